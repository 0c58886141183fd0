"""Raw dataset layouts -> the prepared form (:mod:`advent.data.prepared`).

Which files make up each kind's samples and splits, how its labels are read and mapped
to train ids, is registered in :mod:`advent.data.registry` (layouts: :mod:`advent.data.layouts`).

Images are resized bicubic, labels nearest, both to ``image_size`` = (H, W); labels
become train ids of the protocol with 255 = ignore (ids outside the table -> 255; the
folder kind decodes them through a class map instead, which refuses values it does not
list). An unlabelled image (the folder kind's target train) gets a label of 255 only,
and its split is marked ``"labelled": false`` in ``meta.json``.
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

from advent.data.classmap import ClassMap, load_class_map
from advent.data.labels import IGNORE_INDEX, Protocol, as_protocol, protocol_record
from advent.data.layouts import RawSample, file_listing
from advent.data.prepared import META, PreparedWriter, encode_jpg, encode_png
from advent.data.readers import RawDataError, read_image
from advent.data.registry import LabelDecoder, get_kind
from advent.io import digest_of, read_json

#: Bump when the preparation itself changes, so old outputs are not taken as up to date.
PREPARE_VERSION = 1

MISMATCH_POLICIES = ("error", "skip", "resize")


# --------------------------------------------------------------------------- one sample

@dataclass(frozen=True)
class _Settings:
    dataset: str
    image_size: tuple[int, int]
    decode: LabelDecoder | None = field(repr=False)  # None: no sample has a label
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
                   decode: LabelDecoder | None, on_size_mismatch: str = "error",
                   label_size: tuple[int, int] | None = None
                   ) -> tuple[np.ndarray, np.ndarray] | None:
    """Decode, map and resize one pair: ((H, W, 3) uint8 image, (H, W) uint8 train ids),
    the label to ``label_size`` instead when given; ``decode`` turns a label file into
    train ids. An unlabelled sample (``label`` None) gets a label of 255 only.

    Returns ``None`` when the sizes differ and ``on_size_mismatch == "skip"``.
    """
    image = read_image(sample.image)
    h, w = image_size
    lh, lw = label_size or image_size
    if sample.label is None:
        label = np.full((lh, lw), IGNORE_INDEX, dtype=np.uint8)
    else:
        if decode is None:
            raise ValueError(f"{dataset}: label {sample.label} given but no way to decode it")
        label = decode(sample.label)  # map before resizing: nearest commutes with a lookup
        if label.shape != image.shape[:2]:
            if on_size_mismatch == "skip":
                return None
            if on_size_mismatch == "error":
                raise RawDataError(
                    f"{dataset}: image {sample.image} is {image.shape[1]}x{image.shape[0]} but "
                    f"label {sample.label} is {label.shape[1]}x{label.shape[0]} (WxH)")
            # "resize": each to the target size on its own, as the official loaders do
    if image.shape[:2] != (h, w):
        image = np.asarray(Image.fromarray(image).resize((w, h), Image.BICUBIC))
    if label.shape != (lh, lw):
        label = np.asarray(Image.fromarray(label).resize((lw, lh), Image.NEAREST))
    return image, label


def _work(sample: RawSample) -> tuple[RawSample, bytes | None, bytes | None]:
    s = _SETTINGS
    assert s is not None, "worker not initialised"
    out = process_sample(sample, s.dataset, s.image_size, s.decode, s.on_size_mismatch,
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
    return digest_of(version=PREPARE_VERSION, dataset=dataset, args=args,
                     files=file_listing(samples, raw_root))


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
            image_size: tuple[int, int], protocol: str | Protocol | None = None,
            val_count: int | None = None, seed: int = 1234, splits: Sequence[str] | None = None,
            list_file: str | os.PathLike | None = None, workers: int | None = None,
            image_format: str = "png", on_size_mismatch: str = "error",
            shard_size: int = 1000, progress: bool = True,
            test_label_size: tuple[int, int] | None = None,
            class_map: str | os.PathLike | ClassMap | None = None) -> PrepareResult:
    """Prepare a raw dataset into ``out`` (a prepared-dataset folder); see the module doc.

    * ``image_size`` (H, W) of every prepared image and label.
    * ``protocol``: label space; default ``cityscapes19`` (``synthia16`` for SYNTHIA). For
      Cityscapes as the target of a SYNTHIA source pass ``synthia16``. The folder kind
      takes its class map's; a protocol given with it must have the same classes.
    * ``class_map``: the folder kind only, the class-map file (or :class:`ClassMap`) its
      labels are decoded through; not needed when no sample has a label.
    * ``val_count``, ``seed``, ``splits``: the hold-out (Cityscapes: ``val_count`` official
      train images, default 200; the folder kind: of ``test/``, default 0) and which
      prepared splits to write (default: all the kind provides, or its root holds).
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
    if val_count is None:  # the folder kind holds val out only when asked to
        val_count = 0 if kind.splits_from_root else 200
    raw_root = Path(raw_root)
    out = Path(out)

    query = kind.query(splits, val_count, seed, list_file)
    if test_label_size is not None and "test" not in query.splits:
        raise ValueError(f"{dataset}: test_label_size needs a test split, and {dataset} "
                         f"prepares only {list(query.splits)}")
    samples = kind.list_samples(raw_root, query)
    resolved, decode, class_map = _labels(dataset, samples, protocol, class_map)

    args = {"image_size": [h, w], **protocol_record(resolved), "splits": list(query.splits),
            "image_format": image_format, "on_size_mismatch": on_size_mismatch,
            "shard_size": shard_size, "list_file": str(list_file) if list_file else None}
    if kind.holdout:
        args.update(val_count=val_count, seed=seed)
    if kind.class_map:
        args["class_map"] = class_map.digest if class_map is not None else None
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
    settings = _Settings(dataset, (h, w), decode, image_format, on_size_mismatch, label_sizes)
    extra = {"fingerprint": fp, "source": {"dataset": dataset, "raw_root": str(raw_root),
                                           "prepare_version": PREPARE_VERSION, **args}}
    if class_map is not None:
        extra["source"]["class_map_path"] = class_map.path
    unlabelled = sorted({s.split for s in samples if s.label is None})
    skipped: list[str] = []
    counts: dict[str, int] = {}
    from tqdm import tqdm  # progress bar on stderr

    with PreparedWriter(out, dataset, resolved, (h, w), shard_size=shard_size,
                        image_format=image_format, extra_meta=extra,
                        label_sizes=label_sizes, unlabelled=unlabelled) as writer, \
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


def _labels(dataset: str, samples: Sequence[RawSample], protocol: str | Protocol | None,
            class_map: str | os.PathLike | ClassMap | None
            ) -> tuple[Protocol, LabelDecoder | None, ClassMap | None]:
    """The protocol the samples are prepared in, the decoder of their label files (None
    when none has a label) and the class map loaded."""
    kind = get_kind(dataset)
    if class_map is not None and not isinstance(class_map, ClassMap):
        class_map = load_class_map(class_map)
    labelled = next((s.label for s in samples if s.label is not None), None)
    if not kind.class_map:
        resolved = as_protocol(protocol or kind.default_protocol)
        return resolved, kind.label_decoder(resolved.name, class_map), None
    if protocol is None:
        if class_map is None:
            raise ValueError(f"{dataset}: give a class map (or, for images without labels, "
                             f"the protocol they are prepared in)")
        resolved = class_map.protocol
    else:
        resolved = as_protocol(protocol)
        if class_map is not None and class_map.protocol.class_names != resolved.class_names:
            raise ValueError(
                f"class spaces do not match: the class map {class_map.path} lists "
                f"{list(class_map.protocol.class_names)} but the data are prepared in "
                f"{resolved.name}: {list(resolved.class_names)}")
    if labelled is None:
        return resolved, None, class_map
    if class_map is None:
        raise ValueError(f"{dataset}: there are labels (e.g. {labelled}) but no class map to "
                         f"decode them")
    return resolved, kind.label_decoder(class_map=class_map), class_map


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
    out = process_sample(sample, dataset, image_size, get_kind(dataset).label_decoder(protocol),
                         "resize")
    assert out is not None
    return out


def result_json(result: PrepareResult) -> str:
    """A one-line JSON summary of a :class:`PrepareResult` (for CLIs)."""
    data = asdict(result)
    data["out"] = str(result.out)
    data["seconds"] = round(result.seconds, 3)
    return json.dumps(data)

