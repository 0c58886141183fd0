"""Label spaces and evaluation protocols.

Every prepared dataset stores labels as *train ids* of one protocol, 255 = ignore.
The embedded benchmark and GTA5 -> Cityscapes use the 19 Cityscapes classes;
SYNTHIA -> Cityscapes uses 16 of them (and reports mIoU over 13 as well). A class-map
file (:mod:`advent.data.classmap`) defines a protocol of its own: its class names and
palette travel with the data (``meta.json``), the model files and the evaluation
records (:func:`protocol_record`, :func:`protocol_from_record`), since no table here
knows them by name.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

IGNORE_INDEX = 255
#: What a record, a metrics file and the report say where a number needs target labels
#: that do not exist (your own target images, unlabelled).
NO_TARGET_LABELS = "no target labels"

#: The 19 Cityscapes evaluation classes, in train-id order.
CITYSCAPES_CLASSES: tuple[str, ...] = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
    "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
    "truck", "bus", "train", "motorcycle", "bicycle",
)

#: Official Cityscapes colour per train id (RGB).
CITYSCAPES_PALETTE: tuple[tuple[int, int, int], ...] = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70),
    (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32),
)

#: Cityscapes label id -> 19-class train id (everything else is ignored).
CITYSCAPES_LABEL_ID_TO_TRAIN_ID: dict[int, int] = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
    23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}

#: SYNTHIA class id -> 16-class train id (order of SYNTHIA16_CLASSES).
SYNTHIA_ID_TO_TRAIN_ID_16: dict[int, int] = {
    3: 0, 4: 1, 2: 2, 21: 3, 5: 4, 7: 5, 15: 6, 9: 7, 6: 8, 1: 9,
    10: 10, 17: 11, 8: 12, 19: 13, 12: 14, 11: 15,
}

#: The 16 classes shared by SYNTHIA and Cityscapes, in 16-class train-id order.
SYNTHIA16_CLASSES: tuple[str, ...] = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
    "traffic sign", "vegetation", "sky", "person", "rider", "car", "bus",
    "motorcycle", "bicycle",
)

#: The three classes dropped from the 16 for the mIoU13 figure.
SYNTHIA13_EXCLUDED: tuple[str, ...] = ("wall", "fence", "pole")


#: The most classes a protocol may have: prepared labels are 8-bit, 255 meaning ignore.
MAX_CLASSES = IGNORE_INDEX


@dataclass(frozen=True)
class Protocol:
    """A label space: class names (index = train id) and the mIoU subsets to report.

    ``subsets`` maps a metric name (e.g. ``"mIoU13"``) to the class indices it averages;
    the protocol's own ``"mIoU"`` always averages all classes. ``colors``: one RGB colour
    per class for figures; empty for the built-in protocols, which take the Cityscapes
    colour of each class name.
    """

    name: str
    class_names: tuple[str, ...]
    subsets: dict[str, tuple[int, ...]]
    colors: tuple[tuple[int, int, int], ...] = ()

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def builtin(self) -> bool:
        """True for the protocols of :data:`PROTOCOLS`, known everywhere by name alone."""
        return PROTOCOLS.get(self.name) == self

    @property
    def palette(self) -> np.ndarray:
        """(num_classes, 3) uint8 colours: ``colors``, or Cityscapes colours by class name."""
        if self.colors:
            return np.array(self.colors, dtype=np.uint8).reshape(-1, 3)
        by_name = dict(zip(CITYSCAPES_CLASSES, CITYSCAPES_PALETTE))
        return np.array([by_name[c] for c in self.class_names], dtype=np.uint8)


def _subset(names: tuple[str, ...], excluded: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(i for i, n in enumerate(names) if n not in excluded)


PROTOCOLS: dict[str, Protocol] = {
    "cityscapes19": Protocol("cityscapes19", CITYSCAPES_CLASSES, {}),
    "synthia16": Protocol(
        "synthia16", SYNTHIA16_CLASSES,
        {"mIoU13": _subset(SYNTHIA16_CLASSES, SYNTHIA13_EXCLUDED)},
    ),
}

#: Cityscapes 19-class train id -> SYNTHIA 16-class train id (terrain, truck, train dropped).
CITYSCAPES19_TO_SYNTHIA16: dict[int, int] = {
    CITYSCAPES_CLASSES.index(name): i for i, name in enumerate(SYNTHIA16_CLASSES)
}


def get_protocol(name: str) -> Protocol:
    """Look a protocol up by name, with an error that lists the known ones."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown label protocol {name!r}; known: {sorted(PROTOCOLS)}") from None


def custom_protocol(name: str, class_names: tuple[str, ...] | list[str],
                    colors: tuple | list, where: str = "class map") -> Protocol:
    """A protocol of its own (a class-map file's): checked names and one colour per class.

    ValueError naming ``where`` for no classes, more than :data:`MAX_CLASSES`, a repeated
    name, a built-in protocol's name, or colours that are not one RGB triple per class.
    """
    names = tuple(str(n) for n in class_names)
    if not names:
        raise ValueError(f"{where}: no classes")
    if len(names) > MAX_CLASSES:
        raise ValueError(f"{where}: {len(names)} classes, more than the {MAX_CLASSES} that "
                         f"prepared labels hold (8-bit train ids, {IGNORE_INDEX} = ignore)")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{where}: class {repeated[0]!r} is listed twice")
    if name in PROTOCOLS:
        raise ValueError(f"{where}: {name!r} is a built-in protocol's name; name your own "
                         f"class list otherwise, or give `protocol: {name}` instead of classes")
    rgb = tuple(tuple(int(v) for v in c) for c in colors)
    if len(rgb) != len(names) or any(len(c) != 3 or not all(0 <= v <= 255 for v in c) for c in rgb):
        raise ValueError(f"{where}: expected one RGB colour (3 values in 0..255) per class")
    return Protocol(name, names, {}, rgb)


def class_list(protocol: Protocol) -> list[dict[str, Any]]:
    """``[{"name", "color": [r, g, b]}, ...]`` in train-id order: the classes as files record them."""
    return [{"name": n, "color": [int(v) for v in c]}
            for n, c in zip(protocol.class_names, protocol.palette.tolist())]


def protocol_record(protocol: Protocol) -> dict[str, Any]:
    """What a file records of ``protocol``: ``{"protocol": name}``, plus ``"classes"``
    (:func:`class_list`) for a protocol of its own, which no reader knows by name."""
    record: dict[str, Any] = {"protocol": protocol.name}
    if not protocol.builtin:
        record["classes"] = class_list(protocol)
    return record


def protocol_from_record(record: Mapping[str, Any], where: str = "record") -> Protocol:
    """The protocol a meta.json, model file or evaluation record names (see
    :func:`protocol_record`): a built-in one by name, or its own recorded classes."""
    name = record.get("protocol")
    classes = record.get("classes")
    if classes is None:
        try:
            return get_protocol(name)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
    if not isinstance(name, str) or not isinstance(classes, list) or not all(
            isinstance(c, Mapping) and "name" in c and "color" in c for c in classes):
        raise ValueError(f"{where}: classes must be a list of {{name, color}}, got {classes!r}")
    if name in PROTOCOLS:  # a built-in protocol recorded with its classes (model files)
        protocol = PROTOCOLS[name]
        if [c["name"] for c in classes] != list(protocol.class_names):
            raise ValueError(f"{where}: the classes recorded for {name} are not its classes")
        return protocol
    return custom_protocol(name, [c["name"] for c in classes], [c["color"] for c in classes], where)


def as_protocol(protocol: Protocol | str) -> Protocol:
    """A :class:`Protocol` as is, or a built-in one by name."""
    return protocol if isinstance(protocol, Protocol) else get_protocol(protocol)


def same_classes(a: Protocol, b: Protocol) -> bool:
    """Whether train id ``i`` names the same class under ``a`` and ``b``."""
    return a.name == b.name and a.class_names == b.class_names


def lookup_table(mapping: dict[int, int], size: int = 256) -> np.ndarray:
    """A uint8 lookup table of ``size`` entries: ``mapping`` where given, 255 elsewhere."""
    table = np.full(size, IGNORE_INDEX, dtype=np.uint8)
    for src, dst in mapping.items():
        table[src] = dst
    return table


def map_labels(labels: np.ndarray, mapping: dict[int, int]) -> np.ndarray:
    """Map integer ids through ``mapping``; ids not in it (or out of range) become 255.

    Works for uint8 and wider integer arrays (SYNTHIA ids are 16-bit).
    """
    labels = np.asarray(labels)
    size = max(256, int(labels.max(initial=0)) + 1)
    table = lookup_table(mapping, size)
    return table[labels.astype(np.int64, copy=False)]


def colorize(labels: np.ndarray, protocol: Protocol) -> np.ndarray:
    """(H, W) train ids -> (H, W, 3) uint8 colours; ignore pixels are black."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[: protocol.num_classes] = protocol.palette
    return palette[labels]
