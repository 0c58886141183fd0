"""Pseudo-label target train with adapted model(s) (class-balanced selection, see
advent.pseudo).

The labelling model is pseudo_label.models: one adapted model, or several averaged as
an ensemble (mean of upsampled logits), each models/<name>/model.pt under --models-dir.

Writes a prepared dataset (split "train": the target train images with pseudo-labels,
255 = not selected), the DVC metrics --stats (coverage: the share of pixels selected;
accuracy: theirs against the target train ground truth, a diagnostic only, never used
for training) and the per-class thresholds as DVC plot data (--thresholds).
Reads params: pseudo_label, train.{device,threads,cpu_capability}.
"""
from __future__ import annotations

from pathlib import Path

from advent.cli import run_stage, stage_parser
from advent.data.prepared import PreparedDataset
from advent.io import write_json
from advent.pseudo import pseudo_label_dataset, pseudo_label_metrics, threshold_rows
from advent.runtime import resolve_device
from advent.snapshot import load_for_inference


def main(args, params) -> None:
    cfg = params.pseudo_label
    target = PreparedDataset(args.target, "train")
    paths = [args.models_dir / name / "model.pt" for name in cfg.models]
    models = [m for m, _ in load_for_inference(paths, target)]
    stats = pseudo_label_dataset(models, target, args.out, cfg.fraction, cfg.max_threshold,
                                 resolve_device(params.train.device), cfg.batch_size,
                                 extra_meta={"models": [str(p) for p in paths]})
    write_json(args.stats, pseudo_label_metrics(stats))
    write_json(args.thresholds, threshold_rows(stats, target.protocol.class_names))


if __name__ == "__main__":
    p = stage_parser(__doc__)
    p.add_argument("--models-dir", type=Path, default=Path("models"),
                   help="folder holding <name>/model.pt for each name in pseudo_label.models")
    p.add_argument("--target", type=Path, default=Path("data/prepared/target"))
    p.add_argument("--out", type=Path, default=Path("data/pseudo"))
    p.add_argument("--stats", type=Path, default=Path("metrics/pseudo_label.json"))
    p.add_argument("--thresholds", type=Path, default=Path("metrics/pseudo_label_thresholds.json"))
    run_stage(main, p.parse_args(), computes=True)
