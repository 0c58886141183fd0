"""Prepare the source or target domain of a benchmark, whatever dataset it is.

The procedural benchmark is generated; a real dataset (a kind of
:mod:`advent.data.registry`) is taken from ``raw_root`` when it is already there, or
downloaded into it first when ``download`` is on, then resized into the prepared form;
the folder kind (your own data) is read from ``data.folder.<domain>.root`` and its labels
decoded through its class map (:mod:`advent.data.inputs`). After this nothing downstream
knows which it was.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from advent.data.download import fetch_dataset
from advent.data.inputs import class_maps, folder_config, kind_of, pair_protocol, raw_root
from advent.data.raw import prepare
from advent.data.synthetic import prepare_synthetic
from advent.params import CityscapesConfig, DataConfig, RawDatasetConfig


def prepare_domain(cfg: DataConfig, domain: Literal["source", "target"], out: Path,
                   workers: int | None = None) -> None:
    """Write the prepared dataset of ``domain`` to ``out``."""
    name = kind_of(cfg, domain)
    if name == "synthetic":
        prepare_synthetic(cfg.synthetic, domain, out)
        return
    if name == "folder":
        folder = folder_config(cfg, domain)
        holdout = ({"val_count": folder.val_count, "seed": folder.seed} if domain == "target"
                   else {"splits": ("train",)})
        prepare(name, raw_root(cfg, domain), out, folder.image_size, protocol=pair_protocol(cfg),
                class_map=class_maps(cfg)[domain], workers=workers,
                on_size_mismatch=folder.on_size_mismatch, **holdout)
        return
    raw: RawDatasetConfig = getattr(cfg, name)
    # a download resumes and checks what is there: a partial one is completed
    root = fetch_dataset(name, Path(raw.raw_root)) if raw.download else raw_root(cfg, domain)
    splits = ({"val_count": raw.val_count, "seed": raw.seed, "test_label_size": raw.test_label_size}
              if isinstance(raw, CityscapesConfig) else {})
    prepare(name, root, out, raw.image_size, protocol=cfg.protocol, workers=workers,
            on_size_mismatch=raw.on_size_mismatch, **splits)
