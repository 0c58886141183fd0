"""Pseudo-label target train with adapted model(s) (class-balanced selection).

The labelling model is pseudo_label.models: one adapted model, or several averaged as
an ensemble (mean of upsampled logits), each models/<name>/model.pt under --models-dir.

Writes a prepared dataset (split "train": the target train images with pseudo-labels,
255 = not selected) and a small JSON of per-class thresholds and, as a diagnostic
only, the pseudo-labels' accuracy against the target train ground truth (never used
for training). Reads params: pseudo_label, train.device.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from advent.cli import run_stage, stage_parser
from advent.data.prepared import PreparedDataset, PreparedWriter
from advent.io import write_json
from advent.predict import iterate_predictions
from advent.pseudo import ConfidenceHistogram, select_pseudo_labels
from advent.snapshot import load_segmenter
from advent.runtime import resolve_device


def main(args, params) -> None:
    cfg = params.pseudo_label
    target = PreparedDataset(args.target, "train")
    paths = [args.models_dir / name / "model.pt" for name in cfg.models]
    models = [load_segmenter(p)[0] for p in paths]
    device = resolve_device(params.train.device)
    n = target.protocol.num_classes

    def predictions():
        for images, labels, logits, index in iterate_predictions(models, target, device, cfg.batch_size):
            confidence, predicted = logits.softmax(1).max(1)
            yield images, labels, confidence, predicted, index

    hist = ConfidenceHistogram(n)
    for _, _, confidence, predicted, _ in predictions():
        hist.update(confidence, predicted)
    thresholds = hist.thresholds(cfg.fraction, cfg.max_threshold)

    selected = total = correct = scored = 0
    with PreparedWriter(args.out, f"pseudo-{target.meta['name']}", target.protocol.name,
                        target.image_size, extra_meta={"pseudo_label": {
                            "models": [str(p) for p in paths], "fraction": cfg.fraction,
                            "max_threshold": cfg.max_threshold,
                            "thresholds": thresholds.tolist()}}) as writer:
        for images, labels, confidence, predicted, index in predictions():
            pseudo = select_pseudo_labels(confidence, predicted, thresholds)
            valid = pseudo != 255
            selected += int(valid.sum())
            total += valid.numel()
            scored_mask = valid & (labels != 255)
            scored += int(scored_mask.sum())
            correct += int((scored_mask & (pseudo.long() == labels)).sum())
            for image, label, i in zip(images, pseudo, index):
                writer.add("train", target.ids[int(i)], image.permute(1, 2, 0).numpy(),
                           label.numpy())
    write_json(args.stats, {
        "selected_fraction": selected / max(total, 1),
        "pixel_accuracy_of_selected": correct / max(scored, 1),
        "thresholds": dict(zip(target.protocol.class_names, np.round(thresholds, 4).tolist())),
    })


if __name__ == "__main__":
    p = stage_parser(__doc__)
    p.add_argument("--models-dir", type=Path, default=Path("models"),
                   help="folder holding <name>/model.pt for each name in pseudo_label.models")
    p.add_argument("--target", type=Path, default=Path("data/prepared/target"))
    p.add_argument("--out", type=Path, default=Path("data/pseudo"))
    p.add_argument("--stats", type=Path, default=Path("metrics/pseudo_label.json"))
    run_stage(main, p.parse_args())
