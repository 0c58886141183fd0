"""The one registry of raw dataset kinds: everything the pipeline knows about each.

An entry (:class:`DatasetKind`) says what a kind's raw root looks like, how its samples
are listed per prepared split, how its label files are read and mapped to each label
protocol it supports, and where it can be downloaded from (``source``; ``None`` for
data the user brings). Preparation (:mod:`advent.data.raw`), download
(:mod:`advent.data.download`), the pipeline entry point (:mod:`advent.data.domains`) and
the by-hand tools look kinds up here only, so a new kind is one more entry in
:data:`KINDS` (its layout code beside the others, e.g. in :mod:`advent.data.layouts`).

The procedural benchmark (``synthetic``) is no raw kind: it is generated, not read
(:mod:`advent.data.synthetic`). The folder kind (``folder``, :mod:`advent.data.folder`)
is the user's own data: its labels are decoded through a class-map file
(:mod:`advent.data.classmap`) rather than a table per protocol, and the splits its root
holds are the ones prepared.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from advent.data.classmap import ClassMap
from advent.data.folder import FOLDER_LAYOUT, list_folder
from advent.data.labels import (CITYSCAPES19_TO_SYNTHIA16, CITYSCAPES_LABEL_ID_TO_TRAIN_ID,
                                SYNTHIA_ID_TO_TRAIN_ID_16, get_protocol, lookup_table)
from advent.data.layouts import (CITYSCAPES_LAYOUT, GTA5_LAYOUT, SYNTHIA_LAYOUT, RawSample,
                                 list_cityscapes, list_gta5, list_synthia)
from advent.data.readers import RawDataError, read_index_label, read_raw_label, read_synthia_label
from advent.io import missing

#: Decodes one label file into (H, W) uint8 train ids, 255 = ignore.
LabelDecoder = Callable[[str | os.PathLike], np.ndarray]


@dataclass(frozen=True)
class RemoteFile:
    """One archive to fetch. Checksums that are not published stay ``None``."""

    url: str
    filename: str
    sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class DatasetSource:
    """Where a kind's raw data is downloaded from (archives, extracted into one raw root).

    ``needs_account``: the files sit behind the Cityscapes account login and are fetched
    with its ``cityscapesscripts`` downloader instead of plain HTTP. ``note``: what the
    download needs beyond that (shown by ``advent-download --help``).
    """

    files: tuple[RemoteFile, ...]
    needs_account: bool = False
    homepage: str = ""
    note: str = ""


@dataclass(frozen=True)
class SampleQuery:
    """What preparation asks a kind to list: its resolved splits and the options it takes."""

    splits: tuple[str, ...]
    val_count: int = 200
    seed: int = 1234
    list_file: str | os.PathLike | None = None


@dataclass(frozen=True)
class DatasetKind:
    """One raw dataset kind.

    * ``layout``: the raw root in words (for errors and ``--help``); ``markers``: folders
      under the root that identify it (:meth:`find_root`).
    * ``list_samples(root, query)``: the image/label pairs of ``query.splits``.
    * ``read_label(path)``: a label file as (H, W) raw label ids (uint8 or uint16);
      ``label_tables``: protocol -> builder of the lookup table raw id -> train id (uint8,
      255 = ignore). Its keys are the protocols the kind can be prepared in, the first
      being its default.
    * ``splits``: the prepared splits it provides. ``holdout``: ``val`` is a seeded
      hold-out (``val_count``, ``seed``; of ``train`` for Cityscapes, of ``test`` for the
      folder kind); ``takes_list_file``: a list file may select the samples;
      ``splits_from_root``: the splits found under the root are prepared (``splits`` are
      those it may hold).
    * ``class_map``: labels are decoded through a class-map file (``label_tables`` empty).
    * ``source``: where to download it from; ``None``: no download (the user's own files).
    """

    name: str
    title: str
    layout: str
    markers: tuple[str, ...]
    list_samples: Callable[[Path, SampleQuery], list[RawSample]]
    read_label: Callable[[str | os.PathLike], np.ndarray]
    label_tables: Mapping[str, Callable[[], np.ndarray]]
    splits: tuple[str, ...] = ("train",)
    holdout: bool = False
    takes_list_file: bool = False
    splits_from_root: bool = False
    class_map: bool = False
    source: DatasetSource | None = None

    @property
    def protocols(self) -> tuple[str, ...]:
        return tuple(self.label_tables)

    @property
    def default_protocol(self) -> str:
        return self.protocols[0]

    def label_table(self, protocol: str) -> np.ndarray:
        """Lookup table raw label id -> ``protocol`` train id (uint8, 255 = ignore)."""
        get_protocol(protocol)  # an unknown name fails here, with the known ones
        if protocol not in self.label_tables:
            known = ", ".join(repr(p) for p in self.protocols)
            verb = "is" if len(self.protocols) == 1 else "are"
            raise ValueError(f"{self.name}: only protocol{'s' * (len(self.protocols) > 1)} "
                             f"{known} {verb} defined, got {protocol!r}")
        return self.label_tables[protocol]()

    def label_decoder(self, protocol: str | None = None, class_map: ClassMap | None = None
                      ) -> LabelDecoder:
        """What turns one of this kind's label files into train ids: the class map's
        decoding (a class-map kind), or the reader and the table of ``protocol``."""
        if self.class_map:
            if class_map is None:
                raise ValueError(f"{self.name}: labels are decoded through a class map; "
                                 f"none was given")
            return class_map.read_label
        if class_map is not None:
            raise ValueError(f"{self.name}: labels are read through its own tables; a class "
                             f"map is for the folder kind")
        return TableDecoder(self.name, self.label_table(protocol or self.default_protocol))

    def query(self, splits: Sequence[str] | None = None, val_count: int = 200,
              seed: int = 1234, list_file: str | os.PathLike | None = None) -> SampleQuery:
        """Check the options against this kind; default splits: all it provides (``val``
        only with ``val_count > 0`` for a hold-out kind)."""
        if list_file is not None and not self.takes_list_file:
            raise ValueError(f"{self.name}: list_file is not supported (its samples and "
                             f"splits come from its folders)")
        if splits:
            splits = tuple(splits)
            if not set(splits) <= set(self.splits):
                raise ValueError(f"{self.name}: splits must be among "
                                 f"{', '.join(self.splits)}; got {list(splits)}")
        elif self.splits_from_root:
            splits = self.splits
        else:
            splits = tuple(s for s in self.splits
                           if not (self.holdout and s == "val" and val_count <= 0))
        return SampleQuery(splits, val_count, seed, list_file)

    def find_root(self, path: str | os.PathLike, max_depth: int = 2) -> Path:
        """The folder at or below ``path`` (up to ``max_depth`` levels) with this layout.

        Archives often wrap the data in one extra folder (SYNTHIA's ``RAND_CITYSCAPES/``).
        """
        path = Path(path)
        if not path.is_dir():
            raise RawDataError(f"{self.name}: raw data folder {path} {missing(path)} "
                               f"(expected {self.layout})")
        frontier = [path]
        for _ in range(max_depth + 1):
            for folder in frontier:
                if all((folder / m).is_dir() for m in self.markers):
                    return folder
            frontier = sorted(c for f in frontier for c in f.iterdir()
                              if c.is_dir() and not c.name.startswith("."))
        raise RawDataError(f"{self.name}: no raw layout found in {path}: expected "
                           f"{self.layout}")


@dataclass(frozen=True)
class TableDecoder:
    """A built-in kind's label file -> train ids: its reader, then one protocol's table
    (a plain object, so that worker processes receive it)."""

    kind: str
    table: np.ndarray

    def __call__(self, path: str | os.PathLike) -> np.ndarray:
        return self.table[get_kind(self.kind).read_label(path)]


# --------------------------------------------------------------------------- the kinds

def _cityscapes_ids_to_19() -> np.ndarray:
    return lookup_table(CITYSCAPES_LABEL_ID_TO_TRAIN_ID)


def _cityscapes_ids_to_16() -> np.ndarray:
    """Label id -> 19 classes -> the 16 shared with SYNTHIA."""
    return lookup_table(CITYSCAPES19_TO_SYNTHIA16)[_cityscapes_ids_to_19()]


def _synthia_ids_to_16() -> np.ndarray:
    return lookup_table(SYNTHIA_ID_TO_TRAIN_ID_16, 1 << 16)  # 16-bit ids


def _gta5_samples(root: Path, query: SampleQuery) -> list[RawSample]:
    return list_gta5(root, query.list_file)


def _synthia_samples(root: Path, query: SampleQuery) -> list[RawSample]:
    return list_synthia(root, query.list_file)


def _cityscapes_samples(root: Path, query: SampleQuery) -> list[RawSample]:
    return list_cityscapes(root, query.val_count, query.seed, query.splits)


def _folder_samples(root: Path, query: SampleQuery) -> list[RawSample]:
    return list_folder(root, query.splits, query.val_count, query.seed)


_GTA5_BASE = "https://download.visinf.tu-darmstadt.de/data/from_games/data"

KINDS: dict[str, DatasetKind] = {kind.name: kind for kind in (
    DatasetKind(
        name="gta5",
        title="GTA5 / Playing for Data (24,966 images, 1914x1052, ~57 GB of zips)",
        layout=GTA5_LAYOUT, markers=("images", "labels"),
        list_samples=_gta5_samples, read_label=read_index_label,
        label_tables={"cityscapes19": _cityscapes_ids_to_19},
        takes_list_file=True,
        source=DatasetSource(
            # ten image parts and ten label parts; the authors publish no checksums
            files=tuple(RemoteFile(f"{_GTA5_BASE}/{i:02d}_{part}.zip", f"{i:02d}_{part}.zip")
                        for part in ("images", "labels") for i in range(1, 11)),
            homepage="https://download.visinf.tu-darmstadt.de/data/from_games/",
            note="20 zip parts over HTTP, resumable"),
    ),
    DatasetKind(
        name="synthia",
        title="SYNTHIA-RAND-CITYSCAPES (9,400 images, 1280x760, one ~20 GB .rar)",
        layout=SYNTHIA_LAYOUT, markers=("RGB", "GT/LABELS"),
        list_samples=_synthia_samples, read_label=read_synthia_label,
        label_tables={"synthia16": _synthia_ids_to_16},
        takes_list_file=True,
        source=DatasetSource(
            files=(RemoteFile("http://synthia-dataset.cvc.uab.cat/SYNTHIA_RAND_CITYSCAPES.rar",
                              "SYNTHIA_RAND_CITYSCAPES.rar"),),
            homepage="http://synthia-dataset.net/downloads/",
            note="unpacking the .rar needs unrar or bsdtar; it unpacks to RAND_CITYSCAPES/"),
    ),
    DatasetKind(
        name="cityscapes",
        title="Cityscapes fine annotations (2,975 train + 500 val; needs an account)",
        layout=CITYSCAPES_LAYOUT, markers=("leftImg8bit", "gtFine"),
        list_samples=_cityscapes_samples, read_label=read_index_label,
        label_tables={"cityscapes19": _cityscapes_ids_to_19,
                      "synthia16": _cityscapes_ids_to_16},
        splits=("train", "val", "test"), holdout=True,
        source=DatasetSource(
            files=(RemoteFile("cityscapes:gtFine_trainvaltest.zip", "gtFine_trainvaltest.zip"),
                   RemoteFile("cityscapes:leftImg8bit_trainvaltest.zip",
                              "leftImg8bit_trainvaltest.zip")),
            needs_account=True,
            homepage="https://www.cityscapes-dataset.com/downloads/",
            note="through the cityscapesscripts package (pip install cityscapesscripts); "
                 "needs an account: set CITYSCAPES_USERNAME and CITYSCAPES_PASSWORD"),
    ),
    DatasetKind(
        name="folder",
        title="your own images and labels in plain folders, with a class map (README: "
              "Your own data)",
        layout=FOLDER_LAYOUT, markers=("images",),
        list_samples=_folder_samples, read_label=read_raw_label, label_tables={},
        splits=("train", "val", "test"), holdout=True, splits_from_root=True, class_map=True,
    ),
)}


def get_kind(name: str) -> DatasetKind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown dataset kind {name!r}; known: {list(KINDS)}") from None


def find_raw_root(dataset: str, path: str | os.PathLike, max_depth: int = 2) -> Path:
    """``dataset``'s raw root at or below ``path`` (see :meth:`DatasetKind.find_root`)."""
    return get_kind(dataset).find_root(path, max_depth)


def label_table(dataset: str, protocol: str) -> np.ndarray:
    """Lookup table raw label id of ``dataset`` -> ``protocol`` train id (uint8, 255 = ignore).

    256 entries for GTA5/Cityscapes label ids, 65536 for SYNTHIA's 16-bit ids.
    """
    return get_kind(dataset).label_table(protocol)


def all_protocols() -> list[str]:
    """Every protocol some kind can be prepared in, in registry order."""
    return list(dict.fromkeys(p for kind in KINDS.values() for p in kind.protocols))


def all_splits() -> list[str]:
    """Every prepared split some kind provides, in registry order."""
    return list(dict.fromkeys(s for kind in KINDS.values() for s in kind.splits))
