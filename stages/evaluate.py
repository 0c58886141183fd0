"""Evaluate one model, or an ensemble of several (mean of upsampled logits), on the
target test split (the reported numbers) and the target val split (for tuning and
model selection); see advent.evaluation. The --out folder's name is the method's name
in the metric keys (metrics/minent -> minent.test.mIoU).

Writes the folder --out, whole (a failed write leaves the previous one as it was):
  test.json, val.json  DVC metrics: mIoU (+ protocol subsets) and, on test, ECE and the
                       AUROC of entropy as a detector of wrong pixels
  per_class_iou.json   DVC plot data: per-class IoU on target test
  details.json         per split: per-class IoU, pixel accuracy, the chosen models and
                       the selection rule; confusion matrices, reliability diagrams,
                       entropy histograms on target test and on source train, the
                       selection's candidates and scores
  samples.npz          image, ground truth, prediction, entropy of the first test images
Reads params: evaluate, train.{device,threads,cpu_capability}.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from advent.cli import run_stage, stage_parser
from advent.evaluation import SPLITS, evaluate_models, headline_metrics, per_class_rows
from advent.io import atomic_path, write_json
from advent.runtime import resolve_device


def main(args, params) -> None:
    method = args.out.name
    result = evaluate_models(args.models, args.target, args.source, params.evaluate,
                             resolve_device(params.train.device), args.weights,
                             log=lambda message: print(f"{method}: {message}"))
    with atomic_path(args.out) as out:  # all five files, or (on a failed write) none
        out.mkdir()
        for split in SPLITS:
            write_json(out / f"{split}.json", headline_metrics(method, split, result.splits[split]))
        write_json(out / "per_class_iou.json", per_class_rows(result.splits["test"]))
        write_json(out / "details.json", result.details())
        with open(out / "samples.npz", "wb") as f:
            np.savez_compressed(f, **result.samples)


if __name__ == "__main__":
    p = stage_parser(__doc__)
    p.add_argument("--models", type=Path, nargs="+", required=True,
                   help="model file(s); several = an ensemble (weighted mean of upsampled logits)")
    p.add_argument("--weights", type=float, nargs="+",
                   help="ensemble weights, one per model (default: equal)")
    p.add_argument("--target", type=Path, default=Path("data/prepared/target"))
    p.add_argument("--source", type=Path, default=Path("data/prepared/source"))
    p.add_argument("--out", type=Path, required=True,
                   help="output folder, metrics/<method>: its name names the metrics")
    run_stage(main, p.parse_args(), computes=True)
