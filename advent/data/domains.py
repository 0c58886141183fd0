"""Prepare the source or target domain of a benchmark, whatever dataset it is.

The procedural benchmark is generated; a real dataset is taken from ``raw_root`` when
it is already there, or downloaded into it first when ``download`` is on, then
resized into the prepared form. After this nothing downstream knows which it was.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from advent.data.download import fetch_dataset
from advent.data.raw import LAYOUTS, prepare
from advent.data.synthetic import SyntheticConfig, prepare_synthetic


@dataclass(frozen=True)
class RawDatasetConfig:
    """Where a real dataset lives and the size it is prepared at.

    raw_root: folder holding the raw layout (or one level above it).
    download: fetch the public archives into raw_root when the layout is not there.
    image_size: (H, W) of prepared images and labels.
    val_count: Cityscapes only - official-train images held out as split "val".
    on_size_mismatch: image and label of different sizes: error | skip | resize.
    """

    raw_root: str
    image_size: tuple[int, int]
    download: bool = False
    val_count: int = 200
    seed: int = 1234
    on_size_mismatch: Literal["error", "skip", "resize"] = "error"


@dataclass(frozen=True)
class DataConfig:
    """Which datasets the pipeline prepares (source: labelled; target: unlabelled)."""

    source: Literal["synthetic", "gta5", "synthia"]
    target: Literal["synthetic", "cityscapes"]
    synthetic: SyntheticConfig
    gta5: RawDatasetConfig = field(default_factory=lambda: RawDatasetConfig("data/raw/gta5", (720, 1280)))
    synthia: RawDatasetConfig = field(default_factory=lambda: RawDatasetConfig("data/raw/synthia", (760, 1280)))
    cityscapes: RawDatasetConfig = field(default_factory=lambda: RawDatasetConfig("data/raw/cityscapes", (512, 1024)))

    def validate(self, key: str) -> None:
        if (self.source == "synthetic") != (self.target == "synthetic"):
            raise ValueError(f"{key}: the synthetic benchmark is a pair: source and target must "
                             f"both be synthetic or both real (got {self.source} -> {self.target})")

    @property
    def protocol(self) -> str:
        """The label space of the pair: SYNTHIA -> Cityscapes is scored on 16 classes."""
        return "synthia16" if self.source == "synthia" else "cityscapes19"


def prepare_domain(cfg: DataConfig, domain: Literal["source", "target"], out: Path,
                   workers: int | None = None) -> None:
    """Write the prepared dataset of ``domain`` to ``out``."""
    kind = cfg.source if domain == "source" else cfg.target
    if kind == "synthetic":
        prepare_synthetic(cfg.synthetic, domain, out)
        return
    raw: RawDatasetConfig = getattr(cfg, kind)
    root = Path(raw.raw_root)
    if raw.download:
        root = fetch_dataset(kind, root)
    elif not root.is_dir():
        raise FileNotFoundError(
            f"data.{kind}.raw_root: no {kind} data at {root}; expected {LAYOUTS[kind]}. "
            f"Put the dataset there (or point raw_root at it), or set data.{kind}.download: true")
    else:
        root = fetch_dataset(kind, root, existing=root)
    prepare(kind, root, out, raw.image_size, protocol=cfg.protocol, val_count=raw.val_count,
            seed=raw.seed, workers=workers, on_size_mismatch=raw.on_size_mismatch)
