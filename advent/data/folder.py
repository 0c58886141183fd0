"""The folder dataset kind: your own images and labels in plain folders.

A root holds::

    images/            PNG or JPEG images (split "train")
    labels/            PNG labels, one per image, paired by file stem (a.jpg <-> a.png):
                       8- or 16-bit single-channel values or colour-coded RGB, decoded
                       through a class map (advent.data.classmap)
    val/images/ + val/labels/      optional: a labelled val split (model selection)
    test/images/ + test/labels/    optional: a labelled test split (the reported numbers)

A source root needs ``images/`` and ``labels/``. A target root needs ``images/`` only: its
train images are unlabelled for adaptation; ``labels/`` beside them, when present, is
what the oracle trains on (adaptation never reads it). Without ``val/``, ``val_count`` > 0
holds out that many ``test/`` images as val, drawn with ``seed`` from the sorted stems.
Without any labelled split the target has no labels at all, and the pipeline says so.

Every image of a labelled folder needs its label and every label its image; files
starting with a dot are skipped, other files than images are ignored.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Sequence

from advent.data.layouts import RawSample
from advent.data.readers import RawDataError
from advent.io import missing

FOLDER_LAYOUT = ("<root>/images/ (PNG or JPEG) + <root>/labels/ (PNG, same file stem); a target "
                 "root may leave out labels/ and add val/{images,labels}/ and "
                 "test/{images,labels}/")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: Prepared split -> its folder under the root.
SPLIT_DIRS = {"train": "", "val": "val", "test": "test"}


def _files(folder: Path, suffixes: tuple[str, ...], what: str) -> dict[str, Path]:
    """Stem -> file of ``folder`` with one of ``suffixes`` (any case); a stem twice is an error."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file() or path.suffix.lower() not in suffixes:
            continue
        if path.stem in found:
            raise RawDataError(f"folder: {found[path.stem]} and {path} are two {what} of one "
                               f"sample {path.stem!r}: keep one")
        found[path.stem] = path
    return found


def list_images(folder: str | os.PathLike) -> dict[str, Path]:
    """Stem -> image (PNG or JPEG) of ``folder``, sorted by stem; an error naming the folder
    when it is missing or holds no image."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RawDataError(f"folder: no images folder {folder} (expected {FOLDER_LAYOUT})")
    images = _files(folder, IMAGE_SUFFIXES, "images")
    if not images:
        raise RawDataError(f"folder: no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return dict(sorted(images.items()))


def _paired(split: str, image_dir: Path, label_dir: Path | None) -> list[RawSample]:
    images = list_images(image_dir)
    if label_dir is None:
        return [RawSample(split, stem, path, None) for stem, path in images.items()]
    if not label_dir.is_dir():
        raise RawDataError(f"folder: {image_dir} has no labels folder {label_dir}")
    lossy = _files(label_dir, (".jpg", ".jpeg"), "labels")
    if lossy:
        first = next(iter(lossy.values()))
        raise RawDataError(f"folder: label {first} is a JPEG: labels must be PNG files "
                           f"(a lossy format changes label values)")
    labels = _files(label_dir, (".png",), "labels")
    for stem, image in images.items():
        if stem not in labels:
            raise RawDataError(f"folder: image {image} has no label: expected "
                               f"{label_dir / (stem + '.png')}")
    orphans = sorted(set(labels) - set(images))
    if orphans:
        raise RawDataError(f"folder: label {labels[orphans[0]]} has no image in {image_dir}"
                           + (f" ({len(orphans)} such labels)" if len(orphans) > 1 else ""))
    return [RawSample(split, stem, path, labels[stem]) for stem, path in images.items()]


def list_folder(root: str | os.PathLike, splits: Sequence[str] = ("train", "val", "test"),
                val_count: int = 0, seed: int = 1234) -> list[RawSample]:
    """The samples of ``root`` (see the module docstring) in those of ``splits`` it has,
    in split order then by stem; ``label`` is None for unlabelled train images."""
    root = Path(root)
    if not root.is_dir():
        raise RawDataError(f"folder: root {root} {missing(root)} (expected {FOLDER_LAYOUT})")
    unknown = sorted(set(splits) - set(SPLIT_DIRS))
    if unknown:
        raise ValueError(f"folder: splits must be among {', '.join(SPLIT_DIRS)}; got {list(splits)}")
    samples: list[RawSample] = []
    if "train" in splits:
        labels = root / "labels"
        samples += _paired("train", root / "images", labels if labels.exists() else None)
    held_out: list[RawSample] = []
    for split in ("val", "test"):
        folder = root / SPLIT_DIRS[split]
        if split not in splits and not (split == "test" and "val" in splits and val_count > 0):
            continue
        if not folder.exists():
            continue
        if split == "val" and val_count > 0:
            raise ValueError(f"folder: {folder} is the val split, and val_count {val_count} "
                             f"would hold out another one from test/: set val_count to 0, or "
                             f"remove {folder}")
        held_out += _paired(split, folder / "images", folder / "labels")
    if val_count > 0:
        test = [s for s in held_out if s.split == "test"]
        if not test:
            raise ValueError(f"folder: val_count {val_count} holds val out of {root / 'test'}, "
                             f"which does not exist")
        if val_count >= len(test):
            raise ValueError(f"folder: val_count {val_count} leaves no test images "
                             f"({root / 'test' / 'images'} has {len(test)})")
        chosen = set(random.Random(seed).sample([s.sample_id for s in test], val_count))
        val = [RawSample("val", s.sample_id, s.image, s.label) for s in test if s.sample_id in chosen]
        test = [s for s in test if s.sample_id not in chosen]
        held_out = [s for s in (val if "val" in splits else [])] + (test if "test" in splits else [])
    return samples + held_out
