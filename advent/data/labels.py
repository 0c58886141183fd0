"""Label spaces and evaluation protocols.

Every prepared dataset stores labels as *train ids* of one protocol, 255 = ignore.
The embedded benchmark and GTA5 -> Cityscapes use the 19 Cityscapes classes;
SYNTHIA -> Cityscapes uses 16 of them (and reports mIoU over 13 as well).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IGNORE_INDEX = 255

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


@dataclass(frozen=True)
class Protocol:
    """A label space: class names (index = train id) and the mIoU subsets to report.

    ``subsets`` maps a metric name (e.g. ``"mIoU13"``) to the class indices it averages;
    the protocol's own ``"mIoU"`` always averages all classes.
    """

    name: str
    class_names: tuple[str, ...]
    subsets: dict[str, tuple[int, ...]]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def palette(self) -> np.ndarray:
        """(num_classes, 3) uint8 colours, Cityscapes colours by class name."""
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
