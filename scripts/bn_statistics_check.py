"""How much of a model's target score hangs on its BatchNorm statistics: target val mIoU
with the model's own running statistics, and with statistics re-estimated on target train
(the weights untouched). A source-only model whose score jumps is losing that much to the
source statistics it applies to target images; seeds that differ there differ in how
much they lose.

    python scripts/bn_statistics_check.py models/source_only/model.pt [MODEL ...]
    python scripts/bn_statistics_check.py --target data/prepared/target --json out.json M.pt
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from advent.data.prepared import PreparedDataset
from advent.io import write_json
from advent.metrics import summarize
from advent.predict import confusion_matrix_of, reestimate_bn_statistics
from advent.snapshot import load_for_inference


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+", type=Path, help="model files (models/<method>/model.pt)")
    p.add_argument("--target", type=Path, default=Path("data/prepared/target"),
                   help="prepared target dataset: statistics from its train split, scores on val")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = p.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    val = PreparedDataset(args.target, "val")
    train = PreparedDataset(args.target, "train")

    def miou(model: torch.nn.Module) -> float:
        matrix = confusion_matrix_of([model], val, device, val.protocol.num_classes, args.batch_size)
        return summarize(matrix, val.protocol)["mIoU"]

    rows = []
    for path in args.models:
        (model, _), = load_for_inference([path], val)
        own = miou(model)
        target_bn = miou(reestimate_bn_statistics(model, train, device, args.batch_size))
        rows.append({"model": str(path), "own_bn": own, "target_bn": target_bn})
        print(f"{path}: val mIoU {own:.2f} with its own BN statistics, {target_bn:.2f} with "
              f"target-train statistics ({target_bn - own:+.2f})", flush=True)
    if args.json:
        write_json(args.json, {"target": str(args.target), "models": rows})


if __name__ == "__main__":
    main()
