"""Raw dataset layouts -> the prepared form (:mod:`advent.data.prepared`).

Each dataset is read from the layout its authors ship:

* **GTA5** (``gta5``): ``<root>/images/NNNNN.png`` (RGB) and ``<root>/labels/NNNNN.png``,
  palette PNGs whose *indices* are Cityscapes label ids (the palette only colours them;
  the index is read, never the RGB). Prepared split ``train`` = every image, or the ids
  named in an optional list file.
* **SYNTHIA-RAND-CITYSCAPES** (``synthia``): ``<root>/RGB/NNNNNNN.png`` and
  ``<root>/GT/LABELS/NNNNNNN.png``: 16-bit, multi-channel PNGs with the class id in the
  *first* channel (the second holds instance ids). Pillow would silently read them as
  8-bit, so they go through OpenCV (``IMREAD_UNCHANGED`` keeps 16 bits; OpenCV orders
  channels BGR, so the first PNG channel is OpenCV's last). Split ``train`` = all.
  Always the 16-class protocol ``synthia16``.
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

Images are resized bicubic, labels nearest, both to ``image_size`` = (H, W); labels
become train ids of the protocol with 255 = ignore (ids outside the table -> 255).
Cityscapes' ``test`` labels can be kept at another size (``test_label_size``; the paper
scores against the full-resolution 1024 x 2048 labels), recorded in ``meta.json``.
Decoding, mapping, resizing and PNG encoding run in a process pool; the parent only
appends the encoded bytes to the shards, in input order, so the output does not depend
on the number of workers.

Rerunning :func:`prepare` with the same arguments on unchanged input does nothing: a
fingerprint of the arguments and of every input file's path, size and mtime is stored
in ``meta.json`` and compared first (file contents are not hashed: that is DVC's job).
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image

from advent.data.labels import (CITYSCAPES19_TO_SYNTHIA16, CITYSCAPES_LABEL_ID_TO_TRAIN_ID,
                                SYNTHIA_ID_TO_TRAIN_ID_16, get_protocol, lookup_table)
from advent.data.prepared import META, PreparedWriter, encode_jpg, encode_png
from advent.io import read_json

#: Bump when the preparation itself changes, so old outputs are not taken as up to date.
PREPARE_VERSION = 1

DATASETS = ("gta5", "synthia", "cityscapes")
MISMATCH_POLICIES = ("error", "skip", "resize")

LAYOUTS = {
    "gta5": "<root>/images/NNNNN.png and <root>/labels/NNNNN.png (palette PNGs of "
            "Cityscapes label ids)",
    "synthia": "<root>/RGB/NNNNNNN.png and <root>/GT/LABELS/NNNNNNN.png (16-bit PNGs, "
               "class id in the first channel)",
    "cityscapes": "<root>/leftImg8bit/{train,val}/<city>/<name>_leftImg8bit.png and "
                  "<root>/gtFine/{train,val}/<city>/<name>_gtFine_labelIds.png",
}
_MARKERS = {"gta5": ("images", "labels"), "synthia": ("RGB", "GT/LABELS"),
            "cityscapes": ("leftImg8bit", "gtFine")}


class RawDataError(ValueError):
    """The raw data is missing, malformed or inconsistent; the message names the file(s)."""


@dataclass(frozen=True)
class RawSample:
    """One raw image/label pair and the prepared split it goes to."""

    split: str
    sample_id: str
    image: Path
    label: Path


# --------------------------------------------------------------------------- layouts

def find_raw_root(dataset: str, path: str | os.PathLike, max_depth: int = 2) -> Path:
    """The folder at or below ``path`` (up to ``max_depth`` levels) with ``dataset``'s layout.

    Archives often wrap the data in one extra folder (SYNTHIA's ``RAND_CITYSCAPES/``).
    """
    _check_dataset(dataset)
    path = Path(path)
    if not path.is_dir():
        raise RawDataError(f"{dataset}: raw data folder not found: {path} "
                           f"(expected {LAYOUTS[dataset]})")
    frontier = [path]
    for _ in range(max_depth + 1):
        for folder in frontier:
            if all((folder / m).is_dir() for m in _MARKERS[dataset]):
                return folder
        frontier = sorted(c for f in frontier for c in f.iterdir()
                          if c.is_dir() and not c.name.startswith("."))
    raise RawDataError(f"{dataset}: no raw layout found in {path}: expected "
                       f"{LAYOUTS[dataset]}")


def _check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"unknown raw dataset {dataset!r}; known: {list(DATASETS)}")


def _require_dir(path: Path, dataset: str) -> Path:
    if not path.is_dir():
        raise RawDataError(f"{dataset}: missing folder {path} (expected {LAYOUTS[dataset]})")
    return path


def _read_list_file(list_file: str | os.PathLike) -> list[str]:
    path = Path(list_file)
    if not path.is_file():
        raise RawDataError(f"list file not found: {path}")
    names = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.append(Path(line).stem)  # accepts "00001", "00001.png", "images/00001.png"
    if not names:
        raise RawDataError(f"list file {path} names no samples")
    return names


def _paired(dataset: str, image_dir: Path, label_dir: Path,
            list_file: str | os.PathLike | None) -> list[RawSample]:
    """Same-name pairs ``image_dir/X.png`` / ``label_dir/X.png`` (GTA5, SYNTHIA)."""
    _require_dir(image_dir, dataset)
    _require_dir(label_dir, dataset)
    if list_file is not None:
        ids = _read_list_file(list_file)
    else:
        ids = sorted(p.stem for p in image_dir.glob("*.png"))
        if not ids:
            raise RawDataError(f"{dataset}: no .png images in {image_dir} "
                               f"(expected {LAYOUTS[dataset]})")
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
    root = Path(root)
    if not root.is_dir():
        raise RawDataError(f"gta5: raw root not found: {root} (expected {LAYOUTS['gta5']})")
    return _paired("gta5", root / "images", root / "labels", list_file)


def list_synthia(root: str | os.PathLike, list_file: str | os.PathLike | None = None
                 ) -> list[RawSample]:
    """SYNTHIA-RAND-CITYSCAPES pairs, all in split ``train`` (or those in ``list_file``)."""
    root = Path(root)
    if not root.is_dir():
        raise RawDataError(f"synthia: raw root not found: {root} "
                           f"(expected {LAYOUTS['synthia']})")
    return _paired("synthia", root / "RGB", root / "GT" / "LABELS", list_file)


def _cityscapes_official(root: Path, official: str) -> list[tuple[str, Path, Path]]:
    image_root = _require_dir(root / "leftImg8bit" / official, "cityscapes")
    label_root = _require_dir(root / "gtFine" / official, "cityscapes")
    found = []
    for image in sorted(image_root.glob("*/*_leftImg8bit.png")):
        name = image.name[: -len("_leftImg8bit.png")]
        label = label_root / image.parent.name / f"{name}_gtFine_labelIds.png"
        if not label.is_file():
            raise RawDataError(f"cityscapes: image {image} has no label: expected {label}")
        found.append((name, image, label))
    if not found:
        raise RawDataError(f"cityscapes: no <city>/<name>_leftImg8bit.png images in "
                           f"{image_root} (expected {LAYOUTS['cityscapes']})")
    return found


def list_cityscapes(root: str | os.PathLike, val_count: int = 200, seed: int = 1234,
                    splits: Sequence[str] = ("train", "val", "test")) -> list[RawSample]:
    """Cityscapes samples in our splits (see the module docstring for the mapping).

    ``val`` = ``val_count`` official-train images drawn with ``random.Random(seed)`` from
    the sorted official-train names; ``train`` = the rest; ``test`` = official val.
    The hold-out is computed from the full official train list whatever ``splits`` asks
    for, so preparing ``train`` and ``val`` in separate calls stays consistent.
    """
    root = Path(root)
    if not root.is_dir():
        raise RawDataError(f"cityscapes: raw root not found: {root} "
                           f"(expected {LAYOUTS['cityscapes']})")
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


# --------------------------------------------------------------------------- readers

def read_image(path: str | os.PathLike) -> np.ndarray:
    """(H, W, 3) uint8 RGB; a corrupt or truncated file raises an error naming it."""
    try:
        with Image.open(path) as im:
            im.load()  # decode now: a truncated file fails here, not later
            return np.asarray(im.convert("RGB"))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise RawDataError(f"cannot decode image {path}: {err}") from None


def read_index_label(path: str | os.PathLike) -> np.ndarray:
    """(H, W) uint8 label ids of a palette (``P``) or greyscale (``L``) PNG.

    For a palette PNG this is the palette *index*; converting to RGB would give colours.
    """
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode not in ("P", "L"):
                raise RawDataError(f"label {path}: expected a palette or greyscale PNG of "
                                   f"label ids, got mode {im.mode}")
            return np.asarray(im)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        if isinstance(err, RawDataError):
            raise
        raise RawDataError(f"cannot decode label {path}: {err}") from None


def read_synthia_label(path: str | os.PathLike) -> np.ndarray:
    """(H, W) uint16 SYNTHIA class ids: the first channel of a 16-bit PNG, all 16 bits."""
    try:
        import cv2
    except ImportError:
        raise RuntimeError("reading SYNTHIA labels needs OpenCV (`pip install "
                           "opencv-python-headless`): they are 16-bit PNGs, which Pillow "
                           "silently reads as 8-bit") from None
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise RawDataError(f"cannot read label {path}: {err}") from None
    array = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if array is None:
        raise RawDataError(f"cannot decode label {path}: not a readable PNG "
                           f"(corrupt or truncated?)")
    if array.ndim == 3:
        array = array[:, :, 2] if array.shape[2] >= 3 else array[:, :, 0]  # BGR(A): R is 2
    if array.dtype not in (np.uint16, np.uint8):
        raise RawDataError(f"label {path}: unexpected pixel type {array.dtype}")
    return array


# --------------------------------------------------------------------------- mapping

def label_table(dataset: str, protocol: str) -> np.ndarray:
    """Lookup table raw label id -> protocol train id (uint8, 255 = ignore).

    256 entries for GTA5/Cityscapes label ids, 65536 for SYNTHIA's 16-bit ids.
    """
    _check_dataset(dataset)
    get_protocol(protocol)
    if dataset == "synthia":
        if protocol != "synthia16":
            raise ValueError(f"synthia: only protocol 'synthia16' is defined, got {protocol!r}")
        return lookup_table(SYNTHIA_ID_TO_TRAIN_ID_16, 1 << 16)
    if dataset == "gta5" and protocol != "cityscapes19":
        raise ValueError(f"gta5: only protocol 'cityscapes19' is defined, got {protocol!r}")
    table = lookup_table(CITYSCAPES_LABEL_ID_TO_TRAIN_ID)
    if protocol == "synthia16":  # label id -> 19 classes -> the 16 shared with SYNTHIA
        table = lookup_table(CITYSCAPES19_TO_SYNTHIA16)[table]
    return table


def default_protocol(dataset: str) -> str:
    return "synthia16" if dataset == "synthia" else "cityscapes19"


# --------------------------------------------------------------------------- one sample

@dataclass(frozen=True)
class _Settings:
    dataset: str
    image_size: tuple[int, int]
    table: np.ndarray = field(repr=False)
    image_format: str
    on_size_mismatch: str
    label_sizes: dict[str, tuple[int, int]] = field(default_factory=dict)  # split -> (H, W)


_SETTINGS: _Settings | None = None


def _init_worker(settings: _Settings) -> None:
    global _SETTINGS
    _SETTINGS = settings
    try:  # one process per core already: no nested OpenCV threads
        import cv2
        cv2.setNumThreads(1)
    except ImportError:
        pass


def process_sample(sample: RawSample, dataset: str, image_size: tuple[int, int],
                   table: np.ndarray, on_size_mismatch: str = "error",
                   label_size: tuple[int, int] | None = None
                   ) -> tuple[np.ndarray, np.ndarray] | None:
    """Decode, map and resize one pair: ((H, W, 3) uint8 image, (H, W) uint8 train ids),
    the label to ``label_size`` instead when given.

    Returns ``None`` when the sizes differ and ``on_size_mismatch == "skip"``.
    """
    image = read_image(sample.image)
    raw_label = read_synthia_label(sample.label) if dataset == "synthia" \
        else read_index_label(sample.label)
    if raw_label.shape != image.shape[:2]:
        if on_size_mismatch == "skip":
            return None
        if on_size_mismatch == "error":
            raise RawDataError(
                f"{dataset}: image {sample.image} is {image.shape[1]}x{image.shape[0]} but "
                f"label {sample.label} is {raw_label.shape[1]}x{raw_label.shape[0]} (WxH)")
        # "resize": each to the target size on its own, as the official loaders do
    label = table[raw_label]  # map before resizing: nearest commutes with a lookup
    h, w = image_size
    if image.shape[:2] != (h, w):
        image = np.asarray(Image.fromarray(image).resize((w, h), Image.BICUBIC))
    lh, lw = label_size or image_size
    if label.shape != (lh, lw):
        label = np.asarray(Image.fromarray(label).resize((lw, lh), Image.NEAREST))
    return image, label


def _work(sample: RawSample) -> tuple[RawSample, bytes | None, bytes | None]:
    s = _SETTINGS
    assert s is not None, "worker not initialised"
    out = process_sample(sample, s.dataset, s.image_size, s.table, s.on_size_mismatch,
                         s.label_sizes.get(sample.split))
    if out is None:
        return sample, None, None
    image, label = out
    image_bytes = encode_png(image) if s.image_format == "png" else encode_jpg(image)
    return sample, image_bytes, encode_png(label)


# --------------------------------------------------------------------------- prepare

@dataclass
class PrepareResult:
    """What :func:`prepare` did."""

    out: Path
    counts: dict[str, int]
    skipped: bool                     # True: output was up to date, nothing done
    seconds: float
    skipped_samples: list[str] = field(default_factory=list)


def fingerprint(dataset: str, raw_root: Path, samples: Iterable[RawSample], args: dict) -> str:
    """SHA-256 over the arguments and every input's relative path, size and mtime."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"version": PREPARE_VERSION, "dataset": dataset, "args": args},
                             sort_keys=True).encode())
    for s in samples:
        for path in (s.image, s.label):
            info = path.stat()
            rel = path.relative_to(raw_root) if path.is_relative_to(raw_root) else path
            digest.update(f"{s.split}\0{s.sample_id}\0{rel}\0{info.st_size}\0"
                          f"{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _up_to_date(out: Path, fp: str) -> dict | None:
    try:
        meta = read_json(out / META)
    except (FileNotFoundError, ValueError):
        return None
    if meta.get("fingerprint") != fp:
        return None
    shards = [out / s for info in meta.get("splits", {}).values() for s in info["shards"]]
    return meta if all(s.is_file() for s in shards) else None


def prepare(dataset: str, raw_root: str | os.PathLike, out: str | os.PathLike,
            image_size: tuple[int, int], protocol: str | None = None,
            val_count: int = 200, seed: int = 1234, splits: Sequence[str] | None = None,
            list_file: str | os.PathLike | None = None, workers: int | None = None,
            image_format: str = "png", on_size_mismatch: str = "error",
            shard_size: int = 1000, progress: bool = True,
            test_label_size: tuple[int, int] | None = None) -> PrepareResult:
    """Prepare a raw dataset into ``out`` (a prepared-dataset folder); see the module doc.

    * ``image_size`` (H, W) of every prepared image and label.
    * ``protocol``: label space; default ``cityscapes19`` (``synthia16`` for SYNTHIA). For
      Cityscapes as the target of a SYNTHIA source pass ``synthia16``.
    * ``val_count``, ``seed``, ``splits``: Cityscapes hold-out and which prepared splits to
      write (default: train, val, test; val only if ``val_count > 0``).
    * ``list_file``: GTA5/SYNTHIA only, the ids to use (default: all).
    * ``workers``: processes decoding/resizing/encoding (default: all cores; 1 = in-process).
    * ``on_size_mismatch``: image and label of different sizes -> ``error`` (default),
      ``skip`` (listed in meta.json under ``skipped_samples``) or ``resize`` each on its own.
    * ``test_label_size``: Cityscapes only, (H, W) of the ``test`` split's labels (default:
      ``image_size``); [1024, 2048] keeps official val's labels at full resolution.

    Does nothing (``skipped=True``) when ``out`` holds a dataset made from the same inputs
    with the same arguments.
    """
    t0 = time.monotonic()
    _check_dataset(dataset)
    if on_size_mismatch not in MISMATCH_POLICIES:
        raise ValueError(f"on_size_mismatch must be one of {MISMATCH_POLICIES}, "
                         f"got {on_size_mismatch!r}")
    if image_format not in ("png", "jpg"):
        raise ValueError(f"image_format must be 'png' or 'jpg', got {image_format!r}")
    h, w = (int(v) for v in image_size)
    if h <= 0 or w <= 0:
        raise ValueError(f"image_size must be positive (H, W), got {tuple(image_size)}")
    protocol = protocol or default_protocol(dataset)
    table = label_table(dataset, protocol)
    raw_root = Path(raw_root)
    out = Path(out)

    if dataset == "cityscapes":
        if list_file is not None:
            raise ValueError("cityscapes: list_file is not supported (splits come from the "
                             "official folders)")
        splits = tuple(splits) if splits else (("train", "val", "test") if val_count > 0
                                               else ("train", "test"))
        samples = list_cityscapes(raw_root, val_count, seed, splits)
    elif test_label_size is not None:
        raise ValueError(f"{dataset}: test_label_size is for Cityscapes (the only dataset "
                         f"with a test split)")
    else:
        if splits and tuple(splits) != ("train",):
            raise ValueError(f"{dataset}: the only split is 'train', got {list(splits)}")
        splits = ("train",)
        samples = (list_gta5 if dataset == "gta5" else list_synthia)(raw_root, list_file)

    args = {"image_size": [h, w], "protocol": protocol, "splits": list(splits),
            "image_format": image_format, "on_size_mismatch": on_size_mismatch,
            "shard_size": shard_size, "list_file": str(list_file) if list_file else None}
    label_sizes = {}
    if dataset == "cityscapes":
        args.update(val_count=val_count, seed=seed)
        if test_label_size is not None:  # absent otherwise: same fingerprint as before the option
            label_sizes["test"] = (int(test_label_size[0]), int(test_label_size[1]))
            args["test_label_size"] = list(label_sizes["test"])
    fp = fingerprint(dataset, raw_root, samples, args)
    meta = _up_to_date(out, fp)
    if meta is not None:
        if progress:
            sys.stderr.write(f"prepare {dataset}: {out} is up to date, nothing to do\n")
        return PrepareResult(out, {k: v["count"] for k, v in meta["splits"].items()}, True,
                             time.monotonic() - t0, list(meta.get("skipped_samples", [])))

    workers = max(1, workers or os.cpu_count() or 1)
    settings = _Settings(dataset, (h, w), table, image_format, on_size_mismatch, label_sizes)
    extra = {"fingerprint": fp, "source": {"dataset": dataset, "raw_root": str(raw_root),
                                           "prepare_version": PREPARE_VERSION, **args}}
    skipped: list[str] = []
    counts: dict[str, int] = {}
    from tqdm import tqdm  # progress bar on stderr

    with PreparedWriter(out, dataset, protocol, (h, w), shard_size=shard_size,
                        image_format=image_format, extra_meta=extra,
                        label_sizes=label_sizes) as writer, \
            tqdm(total=len(samples), desc=f"prepare {dataset}", unit="img",
                 disable=not progress, file=sys.stderr) as bar:
        for sample, image_bytes, label_bytes in _run(samples, settings, workers):
            bar.update(1)
            if image_bytes is None:
                skipped.append(f"{sample.split}/{sample.sample_id}")
                continue
            writer.add_encoded(sample.split, sample.sample_id, image_bytes, label_bytes)
            counts[sample.split] = counts.get(sample.split, 0) + 1
        writer.extra_meta["skipped_samples"] = skipped
    if skipped and progress:
        sys.stderr.write(f"prepare {dataset}: skipped {len(skipped)} size-mismatched pairs "
                         f"(listed in {out / META})\n")
    return PrepareResult(out, counts, False, time.monotonic() - t0, skipped)


def _run(samples: list[RawSample], settings: _Settings, workers: int
         ) -> Iterable[tuple[RawSample, bytes | None, bytes | None]]:
    """Results in input order; a pool of ``workers`` processes when more than one."""
    if workers == 1 or len(samples) <= 1:
        _init_worker(settings)
        yield from map(_work, samples)
        return
    # fork where available: workers inherit the imported modules (torch is slow to import)
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
    chunk = max(1, min(8, len(samples) // (workers * 4)))
    with ctx.Pool(workers, initializer=_init_worker, initargs=(settings,)) as pool:
        yield from pool.imap(_work, samples, chunksize=chunk)


def load_raw_sample(dataset: str, sample: RawSample, image_size: tuple[int, int],
                    protocol: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Decode + map + resize one raw pair now (what every epoch would cost without preparing)."""
    table = label_table(dataset, protocol or default_protocol(dataset))
    out = process_sample(sample, dataset, image_size, table, "resize")
    assert out is not None
    return out


def result_json(result: PrepareResult) -> str:
    """A one-line JSON summary of a :class:`PrepareResult` (for CLIs)."""
    data = asdict(result)
    data["out"] = str(result.out)
    data["seconds"] = round(result.seconds, 3)
    return json.dumps(data)

