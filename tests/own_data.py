"""Small "own data" folders for the folder-kind tests: block scenes of five classes with
16-bit and colour-coded labels, and the class maps that decode them."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import yaml
from PIL import Image

CLASSES = ("ground", "wall", "sky", "box", "person")
#: The figure palette of the source class map.
PALETTE = ((128, 64, 128), (70, 70, 70), (70, 130, 180), (0, 0, 142), (220, 20, 60))
#: 16-bit label values of each class in the source's single-channel labels (0 = ignore).
VALUES = (1000, 2000, 3000, 4000, 5000)
#: Label colours of each class: the source's colour labels and the target's (another encoding).
SOURCE_COLORS = ((10, 10, 10), (20, 20, 20), (30, 30, 30), (40, 40, 40), (50, 50, 50))
TARGET_COLORS = ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255))
#: Image colour of each class (the target's is shifted: the domain gap).
SOURCE_LOOK = ((90, 80, 70), (150, 150, 150), (120, 170, 230), (200, 60, 40), (240, 200, 160))
TARGET_LOOK = ((70, 70, 60), (120, 125, 130), (150, 180, 210), (160, 70, 60), (210, 180, 150))


def scene(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(h, w) class ids: sky above a horizon, a wall band, ground, a box and a person."""
    label = np.full((h, w), 2, np.uint8)
    horizon = int(rng.integers(h // 4, h // 2))
    label[horizon:] = 0
    label[horizon - h // 8:horizon, :] = 1
    for cls, (bh, bw) in ((3, (h // 4, w // 5)), (4, (h // 3, w // 10))):
        top = int(rng.integers(horizon, h - bh))
        left = int(rng.integers(0, w - bw))
        label[top:top + bh, left:left + bw] = cls
    return label


def paint(rng: np.random.Generator, label: np.ndarray, look) -> np.ndarray:
    """(h, w, 3) uint8 image of ``label`` in the class colours ``look``, with noise."""
    image = np.asarray(look, np.float32)[label] + rng.normal(0, 12, (*label.shape, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def write_class_map(path: Path, colors=SOURCE_COLORS, with_values: bool = True,
                    extra: dict | None = None) -> Path:
    data = {"name": "blocks5",
            "classes": [{"name": n, "color": list(c)} for n, c in zip(CLASSES, PALETTE)],
            "colors": {n: list(c) for n, c in zip(CLASSES, colors)},
            "ignore": {"colors": [[0, 0, 0]]}}
    if with_values:
        data["values"] = dict(zip(CLASSES, VALUES))
        data["ignore"]["values"] = [0]
    data.update(extra or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def write_labels_16bit(path: Path, label: np.ndarray) -> None:
    values = np.asarray(VALUES, np.uint16)[label]
    values[label == 255] = 0
    cv2.imwrite(str(path), values)


def write_labels_color(path: Path, label: np.ndarray, colors) -> None:
    rgb = np.zeros((*label.shape, 3), np.uint8)
    for cls, color in enumerate(colors):
        rgb[label == cls] = color
    Image.fromarray(rgb).save(path)


def make_source(root: Path, n: int = 8, size: tuple[int, int] = (32, 64), seed: int = 0) -> Path:
    """``root``/images + labels: even samples 16-bit labels (PNG images), odd ones colour
    labels (JPEG images)."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i in range(n):
        label = scene(rng, *size)
        image = Image.fromarray(paint(rng, label, SOURCE_LOOK))
        if i % 2 == 0:
            image.save(root / "images" / f"s{i:03d}.png")
            write_labels_16bit(root / "labels" / f"s{i:03d}.png", label)
        else:
            image.save(root / "images" / f"s{i:03d}.jpg", quality=95)
            write_labels_color(root / "labels" / f"s{i:03d}.png", label, SOURCE_COLORS)
    return root


def make_target(root: Path, n_train: int = 8, n_val: int = 0, n_test: int = 0,
                sizes: tuple[tuple[int, int], ...] = ((32, 64), (40, 80)), seed: int = 1,
                train_labels: bool = False) -> Path:
    """``root``/images (sizes cycle through ``sizes``), [labels/ with ``train_labels``],
    [val/ and test/ with colour labels in :data:`TARGET_COLORS`]."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", n_train), ("val", n_val), ("test", n_test)):
        if not count:
            continue
        base = root if split == "train" else root / split
        (base / "images").mkdir(parents=True)
        labelled = split != "train" or train_labels
        if labelled:
            (base / "labels").mkdir()
        for i in range(count):
            label = scene(rng, *sizes[i % len(sizes)])
            Image.fromarray(paint(rng, label, TARGET_LOOK)).save(base / "images" / f"{split}{i:03d}.png")
            if labelled:
                write_labels_color(base / "labels" / f"{split}{i:03d}.png", label, TARGET_COLORS)
    return root
