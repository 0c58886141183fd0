"""Raw dataset layouts -> the prepared form (:mod:`advent.data.prepared`).

Which files make up each kind's samples and splits, how its labels are read and mapped
to train ids, is registered in :mod:`advent.data.registry` (layouts: :mod:`advent.data.layouts`).

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

import json
import multiprocessing
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image

from advent.data.layouts import RawSample
from advent.data.prepared import META, PreparedWriter, encode_jpg, encode_png
from advent.data.readers import RawDataError, read_image
from advent.data.registry import get_kind
from advent.io import digest_of, read_json

#: Bump when the preparation itself changes, so old outputs are not taken as up to date.
PREPARE_VERSION = 1

MISMATCH_POLICIES = ("error", "skip", "resize")


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
    raw_label = get_kind(dataset).read_label(sample.label)
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
    files = []
    for s in samples:
        for path in (s.image, s.label):
            info = path.stat()
            rel = path.relative_to(raw_root) if path.is_relative_to(raw_root) else path
            files.append([s.split, s.sample_id, rel.as_posix(), info.st_size, info.st_mtime_ns])
    return digest_of(version=PREPARE_VERSION, dataset=dataset, args=args, files=files)


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
    kind = get_kind(dataset)
    if on_size_mismatch not in MISMATCH_POLICIES:
        raise ValueError(f"on_size_mismatch must be one of {MISMATCH_POLICIES}, "
                         f"got {on_size_mismatch!r}")
    if image_format not in ("png", "jpg"):
        raise ValueError(f"image_format must be 'png' or 'jpg', got {image_format!r}")
    h, w = (int(v) for v in image_size)
    if h <= 0 or w <= 0:
        raise ValueError(f"image_size must be positive (H, W), got {tuple(image_size)}")
    protocol = protocol or kind.default_protocol
    table = kind.label_table(protocol)
    raw_root = Path(raw_root)
    out = Path(out)

    query = kind.query(splits, val_count, seed, list_file)
    if test_label_size is not None and "test" not in query.splits:
        raise ValueError(f"{dataset}: test_label_size needs a test split, and {dataset} "
                         f"prepares only {list(query.splits)}")
    samples = kind.list_samples(raw_root, query)

    args = {"image_size": [h, w], "protocol": protocol, "splits": list(query.splits),
            "image_format": image_format, "on_size_mismatch": on_size_mismatch,
            "shard_size": shard_size, "list_file": str(list_file) if list_file else None}
    if kind.holdout:
        args.update(val_count=val_count, seed=seed)
    label_sizes = {}
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
    kind = get_kind(dataset)
    table = kind.label_table(protocol or kind.default_protocol)
    out = process_sample(sample, dataset, image_size, table, "resize")
    assert out is not None
    return out


def result_json(result: PrepareResult) -> str:
    """A one-line JSON summary of a :class:`PrepareResult` (for CLIs)."""
    data = asdict(result)
    data["out"] = str(result.out)
    data["seconds"] = round(result.seconds, 3)
    return json.dumps(data)

