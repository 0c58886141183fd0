"""Datasets: label protocols, prepared shards, the procedural benchmark, raw readers and downloads."""
