"""When two runs that differ only in their float arithmetic part ways.

For finished experiments (the robustness table's runs: seeds x float settings), a
method's models at each snapshot and at the end are compared on target val: the share of
pixels whose predicted class differs, and the gap in mIoU, between the same seed in two
float settings and between two seeds in one setting. Where the first is as large as the
second, another machine gives an independent draw of the training, not a nearby one.

    python scripts/divergence_check.py --experiments NAME [NAME ...] --json out.json
    python scripts/divergence_check.py --experiments NAME ... --method advent
"""
from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from advent.cli import run_tool
from advent.data.prepared import PreparedDataset
from advent.io import write_json
from advent.metrics import ConfusionMatrix, summarize
from advent.predict import iterate_predictions
from advent.report.queue import DvcError, finished_experiments, output_at, outputs_under
from advent.report.results import METHODS
from advent.snapshot import load_for_inference

ROOT = Path(__file__).resolve().parent.parent


def predictions(path: Path, val: PreparedDataset, device: torch.device, batch_size: int
                ) -> tuple[np.ndarray, float]:
    """Predicted classes (N, H, W) uint8 of the model file on ``val``, and its mIoU."""
    (model, _), = load_for_inference([path], val)
    confusion, classes = ConfusionMatrix(val.protocol.num_classes), []
    for _, labels, logits, _ in iterate_predictions([model], val, device, batch_size):
        pred = logits.argmax(1)
        confusion.update(pred, labels)
        classes.append(pred.to(torch.uint8).numpy())
    return np.concatenate(classes), summarize(confusion.matrix, val.protocol)["mIoU"]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--experiments", nargs="+", metavar="NAME", required=True,
                   help="finished DVC experiments (models read from the DVC cache)")
    p.add_argument("--method", default="source_only", choices=[m for m in METHODS if m != "ensemble"],
                   help="models/<method> (default source_only)")
    p.add_argument("--target", type=Path, default=Path("data/prepared/target"),
                   help="prepared target dataset whose val split is scored")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = p.parse_args(argv)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    val = PreparedDataset(args.target, "val")
    runs = {}  # (seed, setting) -> {checkpoint: (classes, mIoU)}
    try:
        rows = finished_experiments(ROOT, args.experiments)
        with tempfile.TemporaryDirectory() as tmp:
            for _, row in rows.iterrows():
                folder = f"models/{args.method}/snapshots"
                files = [f"{folder}/{n}" for n in outputs_under(ROOT, row["rev"], folder)]
                scored = {}
                for file in [*files, f"models/{args.method}/model.pt"]:
                    path = output_at(ROOT, row["rev"], file, Path(tmp) / "model.pt")
                    scored[Path(file).stem] = predictions(path, val, device, args.batch_size)
                key = (int(row["train.seed"]), f"{row['train.threads']}:{row['train.cpu_capability']}")
                runs[key] = scored
                print(f"{row['name']}: " + ", ".join(f"{c} {m:.2f}" for c, (_, m) in scored.items()),
                      flush=True)
    except DvcError as err:
        sys.exit(f"divergence_check: {err}")

    checkpoints = list(next(iter(runs.values())))
    pairs = {"float setting": [(a, b) for a, b in itertools.combinations(runs, 2) if a[0] == b[0]],
             "seed": [(a, b) for a, b in itertools.combinations(runs, 2) if a[1] == b[1]]}
    table = {}
    for c in checkpoints:
        table[c] = {}
        for kind, chosen in pairs.items():
            disagree = [float((runs[a][c][0] != runs[b][c][0]).mean()) for a, b in chosen]
            gap = [abs(runs[a][c][1] - runs[b][c][1]) for a, b in chosen]
            table[c][kind] = {"pairs": len(chosen), "disagreement": float(np.mean(disagree)),
                              "mIoU_gap": float(np.mean(gap))}
    print(f"\n{args.method} on target val: mean over pairs; another float setting (same seed) "
          "| another seed (same setting)")
    print("| checkpoint | pixels predicted differently | | mIoU gap | |")
    for c, entry in table.items():
        f, s = entry["float setting"], entry["seed"]
        print(f"| {c} | {100 * f['disagreement']:.1f}% | {100 * s['disagreement']:.1f}% | "
              f"{f['mIoU_gap']:.2f} | {s['mIoU_gap']:.2f} |")
    if args.json:
        write_json(args.json, {"method": args.method, "split": "val", "table": table,
                               "mIoU": {f"seed {s} / {t}": {c: m for c, (_, m) in scored.items()}
                                        for (s, t), scored in runs.items()}})


if __name__ == "__main__":
    raise SystemExit(run_tool(main, name="divergence_check"))
