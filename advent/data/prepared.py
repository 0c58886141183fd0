"""The prepared-dataset form: what every stage after ``prepare`` reads.

A prepared dataset is a folder::

    meta.json                 format, name, protocol, image size, splits -> shard files + counts
                              (+ a split's label_size when its labels are not image size,
                              "labelled": false for a split of unlabelled images, and
                              "classes" for a protocol of a class-map file)
    <split>-00000.tar ...     tar shards; per sample two members:
                                <id>.image.png   (H, W, 3) uint8 RGB (or .image.jpg)
                                <id>.label.png   (H, W) uint8 train ids, 255 = ignore
                                                 (Hl, Wl) for a split with a label_size

Few large shards instead of one file per image keep ``dvc status`` fast on 25k-image
datasets, and reading a sample is one seek + one PNG decode, with no resizing.
A split may keep its labels at another size than its images (the paper scores Cityscapes
val against full-resolution labels while the network sees downsized images): consumers
upsample predictions to the label size.
Nothing downstream knows whether the folder came from the procedural generator,
GTA5, SYNTHIA or Cityscapes.
"""
from __future__ import annotations

import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from PIL import Image

from advent.data.labels import (Protocol, as_protocol, protocol_from_record, protocol_record,
                                same_classes)
from advent.io import atomic_path, read_json, write_json

FORMAT = "advent-prepared-v1"
META = "meta.json"


def encode_png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def encode_jpg(array: np.ndarray, quality: int = 95) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


class PreparedWriter:
    """Write a prepared dataset atomically: the folder appears only on ``close()``.

    Use as a context manager; an exception inside leaves any previous dataset at
    ``root`` untouched and removes the partial one. ``label_sizes`` gives the (H, W) of
    the labels of splits whose labels are not ``image_size`` (recorded per split in
    ``meta.json``); ``unlabelled`` names splits of images without labels (their labels
    are 255 only; ``"labelled": false`` in ``meta.json``). ``protocol``: a built-in
    protocol's name, or a :class:`Protocol` (one of its own is recorded with its classes).

    >>> with PreparedWriter(root, "synthetic-source", "cityscapes19", (64, 128)) as w:
    ...     w.add("train", "000001", image, label)
    """

    def __init__(self, root: str | os.PathLike, name: str, protocol: str | Protocol,
                 image_size: tuple[int, int], shard_size: int = 1000,
                 image_format: str = "png", extra_meta: dict | None = None,
                 label_sizes: Mapping[str, tuple[int, int]] | None = None,
                 unlabelled: Sequence[str] = ()) -> None:
        if image_format not in ("png", "jpg"):
            raise ValueError(f"image_format must be 'png' or 'jpg', got {image_format!r}")
        self.root = Path(root)
        self.name = name
        self.protocol = as_protocol(protocol)  # fails early on a bad name
        self.unlabelled = set(unlabelled)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.shard_size = shard_size
        self.image_format = image_format
        self.extra_meta = dict(extra_meta or {})
        self.label_sizes = {split: (int(h), int(w)) for split, (h, w) in (label_sizes or {}).items()}
        self._ctx = atomic_path(self.root)
        self._tmp: Path | None = None
        self._splits: dict[str, dict] = {}
        self._open: dict[str, tarfile.TarFile] = {}
        self._ids: dict[str, set[str]] = {}

    def __enter__(self) -> "PreparedWriter":
        self._tmp = self._ctx.__enter__()
        self._tmp.mkdir()
        return self

    def add(self, split: str, sample_id: str, image: np.ndarray, label: np.ndarray) -> None:
        """Append one sample. ``image`` (H, W, 3) uint8, ``label`` (H, W) uint8, or the
        split's label size."""
        h, w = self.image_size
        if image.shape != (h, w, 3) or image.dtype != np.uint8:
            raise ValueError(f"{split}/{sample_id}: image must be ({h}, {w}, 3) uint8, "
                             f"got {image.shape} {image.dtype}")
        lh, lw = self.label_sizes.get(split, self.image_size)
        if label.shape != (lh, lw) or label.dtype != np.uint8:
            raise ValueError(f"{split}/{sample_id}: label must be ({lh}, {lw}) uint8, "
                             f"got {label.shape} {label.dtype}")
        encoded = encode_png(image) if self.image_format == "png" else encode_jpg(image)
        self.add_encoded(split, sample_id, encoded, encode_png(label))

    def add_encoded(self, split: str, sample_id: str, image_bytes: bytes, label_bytes: bytes,
                    image_ext: str | None = None) -> None:
        """Append one sample already encoded (parallel preparation encodes in workers)."""
        ids = self._ids.setdefault(split, set())
        if sample_id in ids:
            raise ValueError(f"{split}: duplicate sample id {sample_id!r}")
        ids.add(sample_id)
        info = self._splits.get(split)
        if info is None:
            info = self._splits[split] = {"count": 0, "shards": []}
            if split in self.label_sizes:
                info["label_size"] = list(self.label_sizes[split])
            if split in self.unlabelled:
                info["labelled"] = False
        if info["count"] % self.shard_size == 0:
            self._close_shard(split)
            shard = f"{split}-{len(info['shards']):05d}.tar"
            info["shards"].append(shard)
            self._open[split] = tarfile.open(self._tmp / shard, "w", format=tarfile.USTAR_FORMAT)
        self._add_member(split, f"{sample_id}.image.{image_ext or self.image_format}", image_bytes)
        self._add_member(split, f"{sample_id}.label.png", label_bytes)
        info["count"] += 1

    def _add_member(self, split: str, name: str, data: bytes) -> None:
        member = tarfile.TarInfo(name)
        member.size = len(data)
        self._open[split].addfile(member, io.BytesIO(data))

    def _close_shard(self, split: str) -> None:
        shard = self._open.pop(split, None)
        if shard is not None:
            shard.close()

    def _finish(self, complete: bool) -> None:
        """Close every shard; when ``complete``, write meta.json (the dataset's last file)."""
        failed: BaseException | None = None
        for split in list(self._open):
            try:
                self._close_shard(split)
            except OSError as err:  # close the others still; report the first
                failed = failed or err
        if failed is not None:
            raise failed
        if complete:
            if not self._splits:
                raise ValueError(f"{self.root}: refusing to write a prepared dataset with no samples")
            write_json(self._tmp / META, {
                "format": FORMAT, "name": self.name, **protocol_record(self.protocol),
                "image_size": list(self.image_size), "splits": self._splits, **self.extra_meta,
            })

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            self._finish(complete=exc_type is None)
        except Exception as err:
            if exc is None:  # the dataset failed at its end: drop it, report why
                self._ctx.__exit__(type(err), err, err.__traceback__)  # raises it (renamed)
                raise
            # else the body's error is the one to report (a close after it fails alike)
        return bool(self._ctx.__exit__(exc_type, exc, tb))


@dataclass(frozen=True)
class _Member:
    shard: int
    offset: int
    size: int


def read_meta(root: str | os.PathLike) -> dict:
    """Read and check ``meta.json``; errors name the path that was expected."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"prepared dataset not found: expected a folder at {root} "
                                f"(run the prepare stage first)")
    meta = read_json(root / META)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ValueError(f"{root / META}: format {found!r} is not {FORMAT!r}")
    _check_meta(root / META, meta)
    return meta


def _check_meta(path: Path, meta: dict) -> None:
    """The keys every reader relies on, each of the right kind; errors name the key."""
    size = meta.get("image_size")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
        raise ValueError(f"{path}: image_size must be [H, W], got {size!r}")
    protocol_from_record(meta, str(path))  # a built-in name, or the classes recorded
    splits = meta.get("splits")
    if not isinstance(splits, dict) or not splits:
        raise ValueError(f"{path}: splits must map split names to shards, got {splits!r}")
    for name, info in splits.items():
        if not (isinstance(info, dict) and isinstance(info.get("count"), int) and info["count"] >= 0
                and isinstance(info.get("shards"), list)
                and all(isinstance(s, str) and "/" not in s for s in info["shards"])):
            raise ValueError(f"{path}: splits.{name} must hold a count and a list of shard "
                             f"file names, got {info!r}")


class PreparedDataset(torch.utils.data.Dataset):
    """One split of a prepared dataset.

    Items are ``(image, label, index)``: image (3, H, W) uint8 RGB, label (H, W) int64
    train ids (255 = ignore), or (Hl, Wl) = ``label_size`` when the split keeps its
    labels at another size (predictions are then upsampled to it). ``labelled`` is False
    for a split of images without labels (every label 255). Normalisation happens
    in the model, so the checkpoint carries its own preprocessing and uint8 batches stay
    small on the way to a GPU.
    """

    def __init__(self, root: str | os.PathLike, split: str) -> None:
        self.root = Path(root)
        self.split = split
        meta = read_meta(self.root)
        if split not in meta["splits"]:
            raise ValueError(f"{self.root / META}: no split {split!r}; "
                             f"available: {sorted(meta['splits'])}")
        info = meta["splits"][split]
        if info["count"] == 0:
            raise ValueError(f"{self.root}: split {split!r} is empty")
        self.meta = meta
        self.protocol: Protocol = protocol_from_record(meta, str(self.root / META))
        self.labelled: bool = info.get("labelled", True)
        self.image_size: tuple[int, int] = tuple(meta["image_size"])
        # None: each label has its image's size (every split written without a label_size)
        self._label_size: tuple[int, int] | None = (tuple(info["label_size"]) if "label_size" in info
                                                    else None)
        self.label_size: tuple[int, int] = self._label_size or self.image_size
        self.shards = [self.root / s for s in info["shards"]]
        self.ids, self._images, self._labels = self._index()
        if len(self.ids) != info["count"]:
            raise ValueError(f"{self.root}: split {split!r} lists {info['count']} samples "
                             f"but its shards hold {len(self.ids)}")
        self._handles: dict[int, object] = {}
        self._pid = os.getpid()

    def _index(self) -> tuple[list[str], list[_Member], list[_Member]]:
        images: dict[str, _Member] = {}
        labels: dict[str, _Member] = {}
        order: list[str] = []
        for k, shard in enumerate(self.shards):
            if not shard.is_file():
                raise FileNotFoundError(f"missing shard {shard} listed in {self.root / META}")
            try:
                with tarfile.open(shard, "r") as tar:
                    for m in tar:
                        sample_id, kind, _ = m.name.rsplit(".", 2)
                        member = _Member(k, m.offset_data, m.size)
                        if kind == "image":
                            images[sample_id] = member
                            order.append(sample_id)
                        elif kind == "label":
                            labels[sample_id] = member
            except (tarfile.TarError, ValueError) as err:
                raise ValueError(f"corrupt shard {shard}: {err}") from None
        missing = [i for i in order if i not in labels]
        if missing:
            raise ValueError(f"{self.root}: samples without a label, e.g. {missing[:3]}")
        return order, [images[i] for i in order], [labels[i] for i in order]

    def __len__(self) -> int:
        return len(self.ids)

    def _read(self, member: _Member) -> bytes:
        if os.getpid() != self._pid:  # forked into a DataLoader worker: reopen files
            self._handles, self._pid = {}, os.getpid()
        handle = self._handles.get(member.shard)
        if handle is None:
            handle = self._handles[member.shard] = open(self.shards[member.shard], "rb")
        handle.seek(member.offset)
        return handle.read(member.size)

    def read_arrays(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(H, W, 3) uint8 image and (H, W) uint8 label (or ``label_size``) of sample ``index``."""
        name = f"{self.root}/{self.split}:{self.ids[index]}"
        try:
            image = np.asarray(Image.open(io.BytesIO(self._read(self._images[index]))).convert("RGB"))
            label = np.asarray(Image.open(io.BytesIO(self._read(self._labels[index]))))
        except OSError as err:
            raise ValueError(f"{name}: cannot decode ({err})") from None
        if self._label_size is not None:
            if label.shape != self._label_size:
                raise ValueError(f"{name}: label shape {label.shape} is not the split's label_size "
                                 f"{self._label_size} ({self.root / META})")
        elif label.ndim != 2 or label.shape != image.shape[:2]:
            raise ValueError(f"{name}: label shape {label.shape} does not fit image {image.shape}")
        return image, label

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        image, label = self.read_arrays(index)
        return (torch.from_numpy(image.copy()).permute(2, 0, 1),
                torch.from_numpy(label.astype(np.int64)), index)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_handles"] = {}  # file handles do not pickle (spawned workers)
        return state


class PreparedUnion(torch.utils.data.ConcatDataset):
    """Labelled splits read as one, in the order given (items as PreparedDataset's, the
    index within its own split); e.g. the labelled source beside pseudo-labelled target
    images. The splits share one class list, image size and label size, so their items
    batch together; ``protocol``, ``image_size`` and ``root`` are the last split's."""

    def __init__(self, parts: Sequence[PreparedDataset]) -> None:
        last = parts[-1]
        for part in parts[:-1]:
            if not same_classes(part.protocol, last.protocol):
                raise ValueError(f"{part.root} ({part.protocol.name}) and {last.root} "
                                 f"({last.protocol.name}) label different classes")
            if (part.image_size, part.label_size) != (last.image_size, last.label_size):
                raise ValueError(
                    f"{part.root} split {part.split!r} has images {part.image_size} / labels "
                    f"{part.label_size} but {last.root} split {last.split!r} has "
                    f"{last.image_size} / {last.label_size}: their items cannot share a batch")
        super().__init__(parts)
        self.parts = list(parts)
        self.protocol, self.image_size, self.root = last.protocol, last.image_size, last.root
        self.meta = {"union": [{"split": p.split, **p.meta} for p in parts]}


def class_histogram(dataset: PreparedDataset | PreparedUnion) -> np.ndarray:
    """(num_classes,) pixel counts of each train id over the split(s) (ignore excluded)."""
    counts = np.zeros(dataset.protocol.num_classes, dtype=np.int64)
    for part in dataset.parts if isinstance(dataset, PreparedUnion) else [dataset]:
        for i in range(len(part)):
            _, label = part.read_arrays(i)
            counts += np.bincount(label.ravel(), minlength=256)[: len(counts)]
    return counts

