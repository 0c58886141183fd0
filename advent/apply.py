"""Apply a trained model file to new images of any size (the ``advent-predict`` tool).

A model file says what inference needs (:mod:`advent.snapshot`): its classes and
palette, the size it was trained at and its preprocessing (inside the network, which
takes uint8 RGB). Each image is resized to that size (bicubic, as preparation does),
run in batches, and its logits are upsampled to the image's own size before the
argmax, so every output has the size of its image.

Per image ``<stem>`` the output folder gets::

    labels/<stem>.png    train ids (8-bit, the model's class order)
    color/<stem>.png     the prediction in the model's palette
    entropy/<stem>.png   normalised entropy, 0..1 as 0..255 (8-bit grey)
    overlay/<stem>.png   the image under the colour mask (with ``overlay``)
    records/<stem>.json  what was done: image, model hash, mean entropy, class fractions

and ``summary.csv`` / ``summary.json`` rank every image by mean entropy, most uncertain
first: the images where the model is least sure, which are the ones to label next.
Every file is written atomically; the record last, so a rerun redoes an image whose
outputs were cut short and skips one already done with the same model file (keyed by
its SHA-256) and the same image file (path, size, mtime).
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from PIL import Image

from advent.config import from_dict
from advent.data.folder import IMAGE_SUFFIXES
from advent.data.labels import Protocol, colorize, protocol_from_record
from advent.data.readers import read_image
from advent.io import atomic_path, read_json, sha256_file, write_json, write_text
from advent.losses import entropy_map, upsample
from advent.models import ModelConfig, Segmenter, build_segmenter
from advent.snapshot import read_model_file

#: Output folders per image, and whether the overlay needs asking for.
OUTPUTS = {"labels": False, "color": False, "entropy": False, "overlay": True}
#: Opacity of the colour mask in an overlay.
OVERLAY_ALPHA = 0.5


@dataclass(frozen=True)
class ModelCard:
    """What a model file says about applying it: ``sha256`` of its bytes, ``protocol``
    (class names and palette), ``input_size`` (H, W) and ``preprocessing``."""

    path: Path
    sha256: str
    protocol: Protocol
    input_size: tuple[int, int]
    preprocessing: str


def load_model(path: str | os.PathLike) -> tuple[Segmenter, ModelCard]:
    """The segmenter of a model file (eval mode) and its card; an error naming the file
    when it is no model file, or one written before model files described themselves."""
    path = Path(path)
    data = read_model_file(path)
    missing = [k for k in ("classes", "input_size", "preprocessing") if data.get(k) is None]
    if missing:
        raise ValueError(f"{path}: the model file does not record {', '.join(missing)} (written "
                         f"before model files described themselves): retrain it (dvc repro)")
    protocol = protocol_from_record(data, str(path))
    cfg = from_dict(ModelConfig, data["model_config"], f"{path}:model_config")
    segmenter = build_segmenter(cfg, data["num_classes"])
    segmenter.net.load_state_dict(data["state_dict"], strict=True)
    h, w = data["input_size"]
    return segmenter.eval(), ModelCard(path, sha256_file(path), protocol, (int(h), int(w)),
                                       data["preprocessing"])


def find_images(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """The images named by ``inputs``: image files, folders (their PNG/JPEG files, not
    recursive) and text files listing image paths one a line (relative ones from the list
    file's folder). Two images of one file stem are refused (their outputs would share
    names)."""
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found += sorted(p for p in item.iterdir() if p.is_file() and not p.name.startswith(".")
                            and p.suffix.lower() in IMAGE_SUFFIXES)
        elif item.suffix.lower() == ".txt" and item.is_file():
            lines = [line.strip() for line in item.read_text().splitlines()]
            found += [item.parent / line for line in lines if line and not line.startswith("#")]
        elif item.is_file():
            found.append(item)
        else:
            raise FileNotFoundError(f"no image, folder or list file at {item}")
    if not found:
        raise ValueError(f"no images (.png, .jpg, .jpeg) in {', '.join(map(str, inputs))}")
    stems: dict[str, Path] = {}
    for path in found:
        if path.stem in stems and stems[path.stem].resolve() != path.resolve():
            raise ValueError(f"{stems[path.stem]} and {path} share the file stem "
                             f"{path.stem!r}, and so their output names: rename one")
        stems[path.stem] = path
    return list(stems.values())


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _image_key(path: Path) -> dict:
    info = path.stat()
    return {"image": str(path), "size": info.st_size, "mtime_ns": info.st_mtime_ns}


def _done(out: Path, stem: str, key: dict, card: ModelCard, overlay: bool) -> dict | None:
    """The record of ``stem`` when its outputs exist for this image and model file."""
    record_path = out / "records" / f"{stem}.json"
    if not record_path.is_file():
        return None
    try:
        record = read_json(record_path)
    except ValueError:
        return None
    wanted = [name for name, optional in OUTPUTS.items() if overlay or not optional]
    if (record.get("model_sha256") != card.sha256
            or any(record.get(k) != v for k, v in key.items())
            or not all((out / name / f"{stem}.png").is_file() for name in wanted)):
        return None
    return record


def _batches(paths: list[Path], size: int) -> Iterator[list[Path]]:
    for start in range(0, len(paths), size):
        yield paths[start:start + size]


@torch.no_grad()
def predict_images(model_path: str | os.PathLike, inputs: Sequence[str | os.PathLike],
                   out: str | os.PathLike, device: torch.device, batch_size: int = 4,
                   overlay: bool = False, progress: bool = True) -> list[dict]:
    """Apply the model file to the images of ``inputs`` (see :func:`find_images`) and write
    the outputs of the module docstring into ``out``. Returns the summary rows, most
    uncertain image first."""
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    segmenter, card = load_model(model_path)
    segmenter.to(device)
    images = find_images(inputs)
    out = Path(out)
    records: dict[str, dict] = {}
    todo = []
    for path in images:
        done = _done(out, path.stem, _image_key(path), card, overlay)
        if done is not None:
            records[path.stem] = done
        else:
            todo.append(path)
    from tqdm import tqdm

    h, w = card.input_size
    with tqdm(total=len(images), initial=len(images) - len(todo), desc="predict", unit="img",
              disable=not progress) as bar:
        for batch in _batches(todo, batch_size):
            pixels = [read_image(p) for p in batch]
            resized = [np.asarray(Image.fromarray(x).resize((w, h), Image.BICUBIC))
                       if x.shape[:2] != (h, w) else x for x in pixels]
            tensor = torch.from_numpy(np.stack(resized)).permute(0, 3, 1, 2).to(device)
            main, _ = segmenter(tensor)
            for i, (path, image) in enumerate(zip(batch, pixels)):
                logits = upsample(main[i:i + 1].float(), image.shape[:2])
                records[path.stem] = _write_outputs(out, path, image, logits, card, overlay)
                bar.update(1)
    return write_summary(out, [records[p.stem] for p in images], card)


def _write_outputs(out: Path, path: Path, image: np.ndarray, logits: torch.Tensor,
                   card: ModelCard, overlay: bool) -> dict:
    """Write one image's outputs, its record last; return the record."""
    prediction = logits.argmax(1)[0].cpu().numpy().astype(np.uint8)
    entropy = entropy_map(logits)[0].cpu().numpy()
    color = colorize(prediction, card.protocol)
    _write_bytes(out / "labels" / f"{path.stem}.png", _png(prediction))
    _write_bytes(out / "color" / f"{path.stem}.png", _png(color))
    _write_bytes(out / "entropy" / f"{path.stem}.png",
                 _png(np.round(np.clip(entropy, 0.0, 1.0) * 255).astype(np.uint8)))
    if overlay:
        blend = (1 - OVERLAY_ALPHA) * image.astype(np.float32) + OVERLAY_ALPHA * color
        _write_bytes(out / "overlay" / f"{path.stem}.png", _png(np.round(blend).astype(np.uint8)))
    counts = np.bincount(prediction.ravel(), minlength=card.protocol.num_classes)
    record = {**_image_key(path), "model": str(card.path), "model_sha256": card.sha256,
              "width": int(image.shape[1]), "height": int(image.shape[0]),
              "mean_entropy": float(entropy.mean()),
              "class_fractions": {name: float(c) / prediction.size
                                  for name, c in zip(card.protocol.class_names, counts)}}
    write_json(out / "records" / f"{path.stem}.json", record)
    return record


def write_summary(out: Path, records: list[dict], card: ModelCard) -> list[dict]:
    """``summary.json`` and ``summary.csv`` in ``out``: one row per image, most uncertain
    (highest mean entropy) first, with the share of its pixels predicted as each class
    (CSV: one column per class); returns the rows."""
    ranked = sorted(records, key=lambda r: (-r["mean_entropy"], r["image"]))
    rows = [{"rank": i + 1, "image": r["image"], "width": r["width"], "height": r["height"],
             "mean_entropy": r["mean_entropy"], "class_fractions": r["class_fractions"]}
            for i, r in enumerate(ranked)]
    write_json(out / "summary.json", {"model": str(card.path), "model_sha256": card.sha256,
                                      "classes": list(card.protocol.class_names),
                                      "input_size": list(card.input_size), "images": rows})
    fixed = [k for k in rows[0] if k != "class_fractions"]
    columns = {name: name if name not in fixed else f"class {name}"
               for name in card.protocol.class_names}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(fixed + list(columns.values()))
    for row in rows:
        writer.writerow([row[k] for k in fixed] + [row["class_fractions"][n] for n in columns])
    write_text(out / "summary.csv", buf.getvalue())
    return rows
