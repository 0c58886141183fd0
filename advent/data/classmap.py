"""Class-map files: your own class list, and how your label files encode it.

A class map is a YAML file (the folder dataset kind, :mod:`advent.data.folder`)::

    name: street5                 # the class list's name in tables and files (default: file stem)
    classes:                      # train id = position in the list
      - road                      # a name (its figure colour: below)
      - {name: car, color: [0, 0, 142]}   # or a name and its colour in figures
    values:                       # single-channel labels (8 or 16 bit): class -> raw value(s)
      road: 1
      car: [2, 3]
    colors:                       # colour-coded RGB labels: class -> RGB colour(s)
      road: [128, 64, 128]
      car: [[0, 0, 142], [0, 0, 143]]
    ignore:                       # no class: 255 in the prepared labels
      values: [0]
      colors: [[0, 0, 0]]
      unlisted: false             # true: every value or colour not listed is ignored too

``protocol: cityscapes19`` (or ``synthia16``) instead of ``name`` and ``classes`` takes a
built-in class list; ``values`` and ``colors`` then name its classes. A label file may
use either encoding: a single-channel PNG is read through ``values``, a colour PNG
through ``colors`` (a palette PNG by its indices when the map gives ``values``, else by
its colours). A class's figure colour is its ``color``, else its first label colour,
else one of a fixed palette.

Every mistake is an error naming the file and the value: a value or colour listed
twice, a class that is not in the list, more classes than 8-bit labels hold, no
classes; and, when a label file is decoded, a value or colour the map does not list
(unless ``ignore`` says so).
"""
from __future__ import annotations

import colorsys
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from advent.data.labels import (CITYSCAPES_PALETTE, IGNORE_INDEX, Protocol, custom_protocol,
                                get_protocol)
from advent.data.readers import RawDataError, read_raw_label
from advent.io import sha256_file

#: The keys a class map may have.
KEYS = ("name", "protocol", "classes", "values", "colors", "ignore")
IGNORE_KEYS = ("values", "colors", "unlisted")
#: Single-channel label values: 8- or 16-bit.
MAX_VALUE = (1 << 16) - 1
_UNLISTED = -1


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice in one mapping (PyYAML keeps the last)."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (listed twice)", key_node.start_mark)
        seen[key] = key_node
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def default_color(index: int) -> tuple[int, int, int]:
    """A fixed colour per train id for classes the map gives none: the Cityscapes colours,
    then hues spread by the golden ratio."""
    if index < len(CITYSCAPES_PALETTE):
        return CITYSCAPES_PALETTE[index]
    r, g, b = colorsys.hsv_to_rgb((index * 0.618034) % 1.0, 0.65, 0.9)
    return int(r * 255), int(g * 255), int(b * 255)


def _pack(rgb: tuple[int, int, int]) -> int:
    return (rgb[0] << 16) | (rgb[1] << 8) | rgb[2]


def _unpack(code: int) -> tuple[int, int, int]:
    return (code >> 16) & 255, (code >> 8) & 255, code & 255


@dataclass(frozen=True)
class ClassMap:
    """A parsed class map: its protocol and the decoding of raw label values and colours.

    ``values``: raw value -> train id (255 = ignored); ``colors``: packed RGB
    (``r << 16 | g << 8 | b``) -> train id; ``ignore_unlisted``: values and colours not
    listed are ignored instead of refused. ``digest``: SHA-256 of the file's bytes.
    """

    path: str
    protocol: Protocol
    values: dict[int, int] = field(default_factory=dict)
    colors: dict[int, int] = field(default_factory=dict)
    ignore_unlisted: bool = False
    digest: str = ""

    def __post_init__(self) -> None:
        table = np.full(MAX_VALUE + 1, _UNLISTED, dtype=np.int16)
        for value, train_id in self.values.items():
            table[value] = train_id
        object.__setattr__(self, "_table", table)

    def decode(self, raw: np.ndarray, label_path: str | os.PathLike) -> np.ndarray:
        """(H, W) uint8/uint16 values or (H, W, 3) uint8 RGB of ``label_path`` -> (H, W)
        uint8 train ids, 255 = ignore. RawDataError naming the file and the first value
        or colour the map does not list."""
        if raw.ndim == 2:
            return self._decode_values(raw, label_path)
        return self._decode_colors(raw, label_path)

    def read_label(self, label_path: str | os.PathLike) -> np.ndarray:
        """Read and decode one label file (see :meth:`decode`)."""
        palette_as_rgb = not self.values and bool(self.colors)
        return self.decode(read_raw_label(label_path, palette_as_rgb), label_path)

    def _refuse(self, label_path: str | os.PathLike, what: str, key: str) -> RawDataError:
        return RawDataError(f"label {label_path}: {what} is not in the class map {self.path} "
                            f"(list it under {key}, or under ignore.{key.split('.')[-1]})")

    def _decode_values(self, raw: np.ndarray, label_path: str | os.PathLike) -> np.ndarray:
        if not self.values and not self.ignore_unlisted:
            raise RawDataError(f"label {label_path} is a single-channel label but the class map "
                               f"{self.path} gives no values (only colours)")
        table: np.ndarray = self._table  # type: ignore[attr-defined]
        if raw.size == 0:
            return raw.astype(np.uint8)
        present = np.flatnonzero(np.bincount(raw.ravel(), minlength=1))
        unlisted = present[table[present] == _UNLISTED]
        if unlisted.size and not self.ignore_unlisted:
            raise self._refuse(label_path, f"value {int(unlisted[0])}"
                               + (f" (and {unlisted.size - 1} more)" if unlisted.size > 1 else ""),
                               "values")
        lookup = np.where(table[: present.max() + 1] == _UNLISTED, IGNORE_INDEX,
                          table[: present.max() + 1]).astype(np.uint8)
        return lookup[raw]

    def _decode_colors(self, raw: np.ndarray, label_path: str | os.PathLike) -> np.ndarray:
        if not self.colors and not self.ignore_unlisted:
            raise RawDataError(f"label {label_path} is a colour label but the class map "
                               f"{self.path} gives no colors (only values)")
        rgb = raw.astype(np.uint32)
        packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        codes, inverse = np.unique(packed, return_inverse=True)
        ids = np.array([self.colors.get(int(c), _UNLISTED) for c in codes], dtype=np.int16)
        if (ids == _UNLISTED).any() and not self.ignore_unlisted:
            unknown = [_unpack(int(c)) for c in codes[ids == _UNLISTED]]
            raise self._refuse(label_path, f"colour {list(unknown[0])}"
                               + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""),
                               "colors")
        ids[ids == _UNLISTED] = IGNORE_INDEX
        return ids.astype(np.uint8)[inverse.reshape(raw.shape[:2])]


# --------------------------------------------------------------------------- parsing

def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _rgb(value: Any, where: str) -> tuple[int, int, int]:
    if (not isinstance(value, list) or len(value) != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value)):
        raise ValueError(f"{where}: a colour is 3 integers in 0..255, got {value!r}")
    return int(value[0]), int(value[1]), int(value[2])


def _colors_of(value: Any, where: str) -> list[tuple[int, int, int]]:
    """One colour ``[r, g, b]`` or a list of them."""
    if isinstance(value, list) and value and isinstance(value[0], list):
        return [_rgb(v, where) for v in value]
    return [_rgb(value, where)]


def _values_of(value: Any, where: str) -> list[int]:
    out = []
    for v in _as_list(value):
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_VALUE:
            raise ValueError(f"{where}: a label value is an integer in 0..{MAX_VALUE}, got {v!r}")
        out.append(int(v))
    return out


def _classes(data: dict, path: Path) -> tuple[str, list[str], dict[str, tuple[int, int, int]]]:
    """(name, class names, their explicit colours) from ``protocol`` or ``name`` + ``classes``."""
    if "protocol" in data:
        if "classes" in data or "name" in data:
            raise ValueError(f"{path}: give either protocol (a built-in class list) or name and "
                             f"classes (your own), not both")
        try:
            protocol = get_protocol(data["protocol"])
        except ValueError as err:
            raise ValueError(f"{path}: protocol: {err}") from None
        return protocol.name, list(protocol.class_names), {}
    classes = data.get("classes")
    if not classes:
        raise ValueError(f"{path}: no classes (list them under classes, or name a built-in "
                         f"protocol such as `protocol: cityscapes19`)")
    if not isinstance(classes, list):
        raise ValueError(f"{path}: classes must be a list, got {classes!r}")
    names, explicit = [], {}
    for i, entry in enumerate(classes):
        if isinstance(entry, dict):
            unknown = sorted(set(entry) - {"name", "color"})
            if unknown or "name" not in entry:
                raise ValueError(f"{path}: classes[{i}] must be a name or {{name, color}}, "
                                 f"got {entry!r}")
            name = entry["name"]
            if "color" in entry:
                explicit[str(name)] = _rgb(entry["color"], f"{path}: classes[{i}].color")
        else:
            name = entry
        if not isinstance(name, (str, int)) or isinstance(name, bool) or not str(name).strip():
            raise ValueError(f"{path}: classes[{i}]: a class name is a non-empty string, got {name!r}")
        names.append(str(name))
    return str(data.get("name", path.stem)), names, explicit


def _encoding(data: dict, key: str, names: list[str], path: Path, parse
              ) -> dict[Any, int]:
    """``values`` or ``colors`` (class -> raw value(s)/colour(s)) as raw -> train id."""
    section = data.get(key) or {}
    if not isinstance(section, dict):
        raise ValueError(f"{path}: {key} must map class names to raw {key}, got {section!r}")
    out: dict[Any, int] = {}
    owner: dict[Any, str] = {}
    for name, raw in section.items():
        if str(name) not in names:
            raise ValueError(f"{path}: {key}: {name!r} is not one of the classes "
                             f"({', '.join(names)})")
        for item in parse(raw, f"{path}: {key}.{name}"):
            if item in out:
                raise ValueError(f"{path}: {key}: {_show(item)} is listed for both "
                                 f"{owner[item]!r} and {name!r}")
            out[item], owner[item] = names.index(str(name)), str(name)
    return out


def _show(item: Any) -> str:
    return f"colour {list(item)}" if isinstance(item, tuple) else f"value {item}"


def load_class_map(path: str | os.PathLike) -> ClassMap:
    """Parse and check the class map at ``path``; ValueError naming the file and the culprit."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"class map not found: {path}")
    try:
        data = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not a valid class map: {' '.join(str(err).split())}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a class map is a mapping with classes (or protocol), "
                         f"values and/or colors; got {type(data).__name__}")
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown key {unknown[0]!r} (known: {', '.join(KEYS)})")
    name, names, explicit = _classes(data, path)
    values = _encoding(data, "values", names, path, _values_of)
    colors = _encoding(data, "colors", names, path, _colors_of)
    ignore = data.get("ignore") or {}
    if not isinstance(ignore, dict) or set(ignore) - set(IGNORE_KEYS):
        raise ValueError(f"{path}: ignore may hold {', '.join(IGNORE_KEYS)}, got {ignore!r}")
    for value in _values_of(ignore.get("values", []), f"{path}: ignore.values"):
        if value in values:
            raise ValueError(f"{path}: value {value} is listed both for "
                             f"{names[values[value]]!r} and under ignore")
        values[value] = IGNORE_INDEX
    for rgb in (_colors_of(ignore["colors"], f"{path}: ignore.colors") if ignore.get("colors") else []):
        if rgb in colors:
            raise ValueError(f"{path}: colour {list(rgb)} is listed both for "
                             f"{names[colors[rgb]]!r} and under ignore")
        colors[rgb] = IGNORE_INDEX
    unlisted = ignore.get("unlisted", False)
    if not isinstance(unlisted, bool):
        raise ValueError(f"{path}: ignore.unlisted must be true or false, got {unlisted!r}")

    if "protocol" in data:
        protocol = get_protocol(name)
    else:
        first_color = {}
        for rgb, train_id in colors.items():
            if train_id != IGNORE_INDEX:
                first_color.setdefault(names[train_id], rgb)
        palette = [explicit.get(n) or first_color.get(n) or default_color(i)
                   for i, n in enumerate(names)]
        protocol = custom_protocol(name, names, palette, str(path))
    return ClassMap(str(path), protocol, values, {_pack(rgb): i for rgb, i in colors.items()},
                    unlisted, sha256_file(path))
