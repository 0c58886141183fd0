"""The on-disk layouts of the real datasets, listed as image/label pairs per prepared split.

Each dataset is read from the layout its authors ship:

* **GTA5** (``gta5``): ``<root>/images/NNNNN.png`` (RGB) and ``<root>/labels/NNNNN.png``,
  palette PNGs whose *indices* are Cityscapes label ids (the palette only colours them;
  the index is read, never the RGB). Prepared split ``train`` = every image, or the ids
  named in an optional list file.
* **SYNTHIA-RAND-CITYSCAPES** (``synthia``): ``<root>/RGB/NNNNNNN.png`` and
  ``<root>/GT/LABELS/NNNNNNN.png``: 16-bit, multi-channel PNGs with the class id in the
  *first* channel (the second holds instance ids). Split ``train`` = all (or a list
  file's ids). Always the 16-class protocol ``synthia16``.
* **Cityscapes** (``cityscapes``): ``<root>/leftImg8bit/{train,val}/<city>/<name>_leftImg8bit.png``
  and ``<root>/gtFine/{train,val}/<city>/<name>_gtFine_labelIds.png``; the other files
  beside them (``_color.png``, ``_instanceIds.png``, ``_polygons.json``) are ignored.

  Prepared splits (official split -> ours):

  =========  =============================================================  ==========
  prepared   content                                                        used for
  =========  =============================================================  ==========
  ``train``  official *train* minus the hold-out below (labels are kept,    adaptation
             but adaptation never reads them)                               (unlabelled)
  ``val``    ``val_count`` images of official *train*, drawn with ``seed``  model
             (fixed: same files, same seed -> same subset)                  selection
  ``test``   official *val* (500 images)                                    the numbers
                                                                            papers report
  =========  =============================================================  ==========

  Cityscapes is prepared in the label space of the source it is paired with: protocol
  ``cityscapes19`` (GTA5) or ``synthia16`` (SYNTHIA, via ``CITYSCAPES19_TO_SYNTHIA16``).

How each kind is read, mapped and fetched is registered in :mod:`advent.data.registry`.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from advent.data.readers import RawDataError
from advent.io import missing

GTA5_LAYOUT = ("<root>/images/NNNNN.png and <root>/labels/NNNNN.png (palette PNGs of "
               "Cityscapes label ids)")
SYNTHIA_LAYOUT = ("<root>/RGB/NNNNNNN.png and <root>/GT/LABELS/NNNNNNN.png (16-bit PNGs, "
                  "class id in the first channel)")
CITYSCAPES_LAYOUT = ("<root>/leftImg8bit/{train,val}/<city>/<name>_leftImg8bit.png and "
                     "<root>/gtFine/{train,val}/<city>/<name>_gtFine_labelIds.png")


@dataclass(frozen=True)
class RawSample:
    """One raw image/label pair and the prepared split it goes to; ``label`` is None for
    an unlabelled image (the folder kind's target train images)."""

    split: str
    sample_id: str
    image: Path
    label: Path | None


def file_listing(samples: Iterable[RawSample], raw_root: str | os.PathLike) -> list[list]:
    """[split, id, path (relative to ``raw_root`` when below it), size, mtime_ns] of every
    image and label file: what a cheap fingerprint of the raw input is made of (contents
    are not read; hashing them is DVC's job)."""
    raw_root = Path(raw_root)
    files = []
    for s in samples:
        for path in (s.image, s.label):
            if path is None:
                continue
            info = path.stat()
            rel = path.relative_to(raw_root) if path.is_relative_to(raw_root) else path
            files.append([s.split, s.sample_id, rel.as_posix(), info.st_size, info.st_mtime_ns])
    return files


def _require_dir(path: Path, dataset: str, layout: str) -> Path:
    if not path.is_dir():
        raise RawDataError(f"{dataset}: missing folder {path}: {missing(path)} (expected {layout})")
    return path


def _require_root(root: str | os.PathLike, dataset: str, layout: str) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise RawDataError(f"{dataset}: raw root {root} {missing(root)} (expected {layout})")
    return root


def read_list_file(list_file: str | os.PathLike) -> list[str]:
    """Sample ids named in a text file, one a line (``#`` comments, blank lines skipped)."""
    path = Path(list_file)
    if not path.is_file():
        raise RawDataError(f"list file {path} {missing(path, 'file')}")
    names = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.append(Path(line).stem)  # accepts "00001", "00001.png", "images/00001.png"
    if not names:
        raise RawDataError(f"list file {path} names no samples")
    return names


def _paired(dataset: str, layout: str, image_dir: Path, label_dir: Path,
            list_file: str | os.PathLike | None) -> list[RawSample]:
    """Same-name pairs ``image_dir/X.png`` / ``label_dir/X.png`` (GTA5, SYNTHIA)."""
    _require_dir(image_dir, dataset, layout)
    _require_dir(label_dir, dataset, layout)
    if list_file is not None:
        ids = read_list_file(list_file)
    else:
        ids = sorted(p.stem for p in image_dir.glob("*.png"))
        if not ids:
            raise RawDataError(f"{dataset}: no .png images in {image_dir} "
                               f"(expected {layout})")
    samples = []
    for sample_id in ids:
        image, label = image_dir / f"{sample_id}.png", label_dir / f"{sample_id}.png"
        if not image.is_file():
            raise RawDataError(f"{dataset}: image {image} not found (listed sample {sample_id!r})")
        if not label.is_file():
            raise RawDataError(f"{dataset}: image {image} has no label: expected {label}")
        samples.append(RawSample("train", sample_id, image, label))
    return samples


def list_gta5(root: str | os.PathLike, list_file: str | os.PathLike | None = None
              ) -> list[RawSample]:
    """GTA5 pairs, all in split ``train`` (or only the ids in ``list_file``)."""
    root = _require_root(root, "gta5", GTA5_LAYOUT)
    return _paired("gta5", GTA5_LAYOUT, root / "images", root / "labels", list_file)


def list_synthia(root: str | os.PathLike, list_file: str | os.PathLike | None = None
                 ) -> list[RawSample]:
    """SYNTHIA-RAND-CITYSCAPES pairs, all in split ``train`` (or those in ``list_file``)."""
    root = _require_root(root, "synthia", SYNTHIA_LAYOUT)
    return _paired("synthia", SYNTHIA_LAYOUT, root / "RGB", root / "GT" / "LABELS", list_file)


def _cityscapes_official(root: Path, official: str) -> list[tuple[str, Path, Path]]:
    image_root = _require_dir(root / "leftImg8bit" / official, "cityscapes", CITYSCAPES_LAYOUT)
    label_root = _require_dir(root / "gtFine" / official, "cityscapes", CITYSCAPES_LAYOUT)
    found = []
    for image in sorted(image_root.glob("*/*_leftImg8bit.png")):
        name = image.name[: -len("_leftImg8bit.png")]
        label = label_root / image.parent.name / f"{name}_gtFine_labelIds.png"
        if not label.is_file():
            raise RawDataError(f"cityscapes: image {image} has no label: expected {label}")
        found.append((name, image, label))
    if not found:
        raise RawDataError(f"cityscapes: no <city>/<name>_leftImg8bit.png images in "
                           f"{image_root} (expected {CITYSCAPES_LAYOUT})")
    return found


def list_cityscapes(root: str | os.PathLike, val_count: int = 200, seed: int = 1234,
                    splits: Sequence[str] = ("train", "val", "test")) -> list[RawSample]:
    """Cityscapes samples in our splits (see the module docstring for the mapping).

    ``val`` = ``val_count`` official-train images drawn with ``random.Random(seed)`` from
    the sorted official-train names; ``train`` = the rest; ``test`` = official val.
    The hold-out is computed from the full official train list whatever ``splits`` asks
    for, so preparing ``train`` and ``val`` in separate calls stays consistent.
    """
    root = _require_root(root, "cityscapes", CITYSCAPES_LAYOUT)
    unknown = sorted(set(splits) - {"train", "val", "test"})
    if unknown or not splits:
        raise ValueError(f"cityscapes splits must be among train, val, test; got {list(splits)}")
    if "val" in splits and val_count <= 0:
        raise ValueError("cityscapes: split 'val' asked for but val_count is 0")
    samples: list[RawSample] = []
    if "train" in splits or "val" in splits:
        official_train = _cityscapes_official(root, "train")
        if val_count >= len(official_train):
            raise ValueError(f"cityscapes: val_count {val_count} leaves no training images "
                             f"(official train has {len(official_train)})")
        names = [n for n, _, _ in official_train]
        held_out = set(random.Random(seed).sample(names, val_count)) if val_count > 0 else set()
        for name, image, label in official_train:
            split = "val" if name in held_out else "train"
            if split in splits:
                samples.append(RawSample(split, name, image, label))
    if "test" in splits:
        samples += [RawSample("test", n, i, l) for n, i, l in _cityscapes_official(root, "val")]
    return samples
