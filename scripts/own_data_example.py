"""Example "own data" in plain folders, to try the folder kind before pointing it at
yours (README: Your own data), and the tests' data: block scenes of five classes
(ground, wall, sky, box, person), the source labelled half in 16-bit values and half in
colours, the target's val split colour-coded in another encoding, and the two class
maps that decode them.

    python scripts/own_data_example.py data/own

writes data/own/{source,target,new}/ and data/own/{classes,target_classes}.yaml:
source/images + labels, target/images (unlabelled) + val/images + val/labels, and
new/ (images of several sizes to run advent-predict on).
"""
from __future__ import annotations

import argparse
import sys
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
    """The class map of :data:`CLASSES`: their figure palette, label ``colors`` and, with
    ``with_values``, the 16-bit label :data:`VALUES` (0 and black ignored); ``extra``
    replaces top-level keys."""
    data = {"name": "blocks5",
            "classes": [{"name": n, "color": list(c)} for n, c in zip(CLASSES, PALETTE)]}
    if with_values:
        data["values"] = dict(zip(CLASSES, VALUES))
    data["colors"] = {n: list(c) for n, c in zip(CLASSES, colors)}
    data["ignore"] = {"values": [0], "colors": [[0, 0, 0]]} if with_values else {"colors": [[0, 0, 0]]}
    data.update(extra or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# The example's class map (advent/data/classmap.py documents the format)\n"
                    + yaml.safe_dump(data, sort_keys=False, default_flow_style=None))
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


def make_example(root: Path, n_source: int = 200, n_target: int = 200, n_val: int = 50,
                 size: tuple[int, int] = (64, 128), n_new: int = 6) -> None:
    """The whole example under ``root`` (see the module docstring)."""
    h, w = size
    make_source(root / "source", n_source, size)
    make_target(root / "target", n_target, n_val, sizes=(size, (h * 5 // 4, w * 5 // 4)))
    write_class_map(root / "classes.yaml")
    write_class_map(root / "target_classes.yaml", TARGET_COLORS, with_values=False)
    rng = np.random.default_rng(2)
    (root / "new").mkdir(parents=True)
    for i in range(n_new):
        nh, nw = (h, w) if i % 2 else (h * 3 // 2, w * 2)
        Image.fromarray(paint(rng, scene(rng, nh, nw), TARGET_LOOK)).save(root / "new" / f"new{i:03d}.jpg")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path, help="folder to write (must not exist)")
    parser.add_argument("--size", nargs=2, type=int, default=(64, 128), metavar=("H", "W"),
                        help="image size (default 64 128; some target images are 5/4 of it)")
    parser.add_argument("--source", type=int, default=200, help="source images (default 200)")
    parser.add_argument("--target", type=int, default=200, help="target train images (default 200)")
    parser.add_argument("--val", type=int, default=50, help="labelled target val images (default 50)")
    args = parser.parse_args(argv)
    if args.root.exists():
        parser.error(f"{args.root} exists: give a new folder")
    make_example(args.root, args.source, args.target, args.val, tuple(args.size))
    print(f"wrote {args.root}/source, target, new, classes.yaml, target_classes.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
