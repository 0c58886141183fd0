"""Prepare the source or target domain of a benchmark, whatever dataset it is.

The procedural benchmark is generated; a real dataset (a kind of
:mod:`advent.data.registry`) is taken from ``raw_root`` when it is already there, or
downloaded into it first when ``download`` is on, then resized into the prepared form.
After this nothing downstream knows which it was.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from advent.data.download import fetch_dataset
from advent.data.raw import prepare
from advent.data.registry import get_kind
from advent.data.synthetic import prepare_synthetic
from advent.params import CityscapesConfig, DataConfig, RawDatasetConfig


def prepare_domain(cfg: DataConfig, domain: Literal["source", "target"], out: Path,
                   workers: int | None = None) -> None:
    """Write the prepared dataset of ``domain`` to ``out``."""
    name = cfg.source if domain == "source" else cfg.target
    if name == "synthetic":
        prepare_synthetic(cfg.synthetic, domain, out)
        return
    kind = get_kind(name)
    raw: RawDatasetConfig = getattr(cfg, name)
    root = Path(raw.raw_root)
    if raw.download:
        root = fetch_dataset(name, root)
    elif not root.is_dir():
        fix = f", or set data.{name}.download: true" if kind.source is not None else ""
        raise FileNotFoundError(
            f"data.{name}.raw_root: no {name} data at {root}; expected {kind.layout}. "
            f"Put the dataset there (or point raw_root at it){fix}")
    else:
        root = kind.find_root(root)
    splits = ({"val_count": raw.val_count, "seed": raw.seed, "test_label_size": raw.test_label_size}
              if isinstance(raw, CityscapesConfig) else {})
    prepare(name, root, out, raw.image_size, protocol=cfg.protocol, workers=workers,
            on_size_mismatch=raw.on_size_mismatch, **splits)
