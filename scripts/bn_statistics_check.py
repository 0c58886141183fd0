"""How much of a model's target score hangs on its BatchNorm statistics: target val (or
--split test) mIoU with the model's own running statistics, and with statistics
re-estimated on target train (the weights untouched; AdaBN, as the adabn stage). A source-only model whose score jumps is losing that much to the
source statistics it applies to target images; seeds that differ there differ in how
much they lose.

With --experiments, the models of finished DVC experiments (e.g. the robustness table's
runs) are checked, and the spread over those runs is summarised both ways: each method's
mIoU, and each adapted method's paired gain over source-only (its own statistics, as the
pipeline evaluates it) against source-only with its own and with target statistics.

    python scripts/bn_statistics_check.py models/source_only/model.pt [MODEL ...]
    python scripts/bn_statistics_check.py --target data/prepared/target --json out.json M.pt
    python scripts/bn_statistics_check.py --experiments NAME [NAME ...] --json out.json
    python scripts/bn_statistics_check.py --experiments NAME ... --split test --json out.json
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

from advent.cli import run_tool
from advent.data.prepared import PreparedDataset
from advent.io import write_json
from advent.metrics import summarize
from advent.predict import confusion_matrix_of, has_batchnorm, reestimate_bn_statistics
from advent.report.compare import read_json_at
from advent.report.queue import DvcError, finished_experiments, output_at
from advent.report.robustness import fmt, spread_sources, summarize_runs
from advent.snapshot import load_for_inference

ROOT = Path(__file__).resolve().parent.parent
#: The single-model methods (the ensemble is two of them, not a model of its own).
METHODS = ["source_only", "minent", "advent", "self_train", "intrada"]


class BnCheck:
    """Target ``split`` mIoU of a model file with its own and with target-train BN statistics."""

    def __init__(self, target: Path, batch_size: int, split: str = "val") -> None:
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.scored = PreparedDataset(target, split)
        self.train = PreparedDataset(target, "train")
        self.batch_size = batch_size

    def miou(self, model: torch.nn.Module) -> float:
        matrix = confusion_matrix_of([model], self.scored, self.device, self.scored.protocol.num_classes,
                                     self.batch_size)
        return summarize(matrix, self.scored.protocol)["mIoU"]

    def __call__(self, path: Path) -> dict[str, float]:
        (model, _), = load_for_inference([path], self.scored)
        if not has_batchnorm(model):
            sys.exit(f"bn_statistics_check: {path} has no BatchNorm layer: nothing to re-estimate")
        return {"own_bn": self.miou(model),
                "target_bn": self.miou(reestimate_bn_statistics(model, self.train, self.device,
                                                                 self.batch_size))}


def check_experiments(check: BnCheck, names: list[str], methods: list[str]) -> dict:
    """Every method's model of every experiment, checked; the runs and their summaries."""
    runs = []
    rows = finished_experiments(ROOT, names)
    for rev, name in zip(rows["rev"], rows["name"]):
        # Own statistics here means models/<m>/model.pt: what the table reports only
        # under the "last" rule.
        rule = read_json_at(ROOT, rev, "metrics/source_only/details.json")["test"]["selection_rule"]
        if rule != "last":
            sys.exit(f"bn_statistics_check: experiment {name} reports evaluate.selection {rule}, "
                     "not the last model file that this check scores")
    with tempfile.TemporaryDirectory() as tmp:
        for _, row in rows.iterrows():
            scores = {}
            for m in methods:
                path = output_at(ROOT, row["rev"], f"models/{m}/model.pt", Path(tmp) / m / "model.pt")
                scores[m] = check(path)
            run = {"experiment": row["name"], "seed": int(row["train.seed"]),
                   "threads": int(row["train.threads"]), "cpu_capability": row["train.cpu_capability"],
                   "scores": scores}
            runs.append(run)
            print(f"{run['experiment']}: " + ", ".join(
                f"{m} {s['own_bn']:.2f} / {s['target_bn']:.2f}" for m, s in scores.items()), flush=True)
    # Two tables of the same runs: source-only with its own statistics (as the pipeline
    # scores it) and with target statistics; the adapted methods as the pipeline scores them.
    views = {}
    for view in ("own_bn", "target_bn"):
        table = [{**r, "mIoU": {m: s["own_bn"] for m, s in r["scores"].items()}} for r in runs]
        for r in table:
            r["mIoU"]["source_only"] = r["scores"]["source_only"][view]
        views[f"source_only_{view}"] = {"summary": summarize_runs(table, methods),
                                        "spread": spread_sources(table, methods)}
    return {"runs": runs, "views": views}


def print_views(views: dict, methods: list[str], split: str) -> None:
    print(f"\n{split} mIoU and paired gain over source-only, source-only with its own | target BN statistics")
    print("| method | mIoU mean ± std | gain (own) mean ± std, min | gain (target BN) mean ± std, min |")
    own, target = (views[f"source_only_{v}"]["summary"] for v in ("own_bn", "target_bn"))
    for m in methods:
        if m == "source_only":
            print(f"| source only | {fmt(own[m]['mIoU']['mean'])} ± {fmt(own[m]['mIoU']['std'])} "
                  f"(target BN: {fmt(target[m]['mIoU']['mean'])} ± {fmt(target[m]['mIoU']['std'])}) | | |")
            continue
        g1, g2 = own[m]["gain"], target[m]["gain"]
        print(f"| {m} | {fmt(own[m]['mIoU']['mean'])} ± {fmt(own[m]['mIoU']['std'])} "
              f"| {fmt(g1['mean'], sign=True)} ± {fmt(g1['std'])}, {fmt(g1['min'], sign=True)} "
              f"| {fmt(g2['mean'], sign=True)} ± {fmt(g2['std'])}, {fmt(g2['min'], sign=True)} |")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="*", type=Path, help="model files (models/<method>/model.pt)")
    p.add_argument("--experiments", nargs="+", metavar="NAME", default=[],
                   help="finished DVC experiments whose models to check (from the DVC cache)")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=METHODS,
                   help="with --experiments: the methods whose models to check (source_only first)")
    p.add_argument("--target", type=Path, default=Path("data/prepared/target"),
                   help="prepared target dataset: statistics from its train split, scores on --split")
    p.add_argument("--split", choices=["val", "test"], default="val",
                   help="the split scored (default val, where choices are made; test only "
                        "to report the final defaults)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = p.parse_args(argv)
    if bool(args.models) == bool(args.experiments):
        p.error("give model files or --experiments, not both and not neither")
    if args.experiments and args.methods[0] != "source_only":
        p.error("--methods must start with source_only: the gains are paired with it")

    check = BnCheck(args.target, args.batch_size, args.split)
    if args.experiments:
        try:
            out = check_experiments(check, args.experiments, args.methods)
        except DvcError as err:
            sys.exit(f"bn_statistics_check: {err}")
        print_views(out["views"], args.methods, args.split)
    else:
        rows = []
        for path in args.models:
            scores = check(path)
            rows.append({"model": str(path), **scores})
            print(f"{path}: {args.split} mIoU {scores['own_bn']:.2f} with its own BN statistics, "
                  f"{scores['target_bn']:.2f} with target-train statistics "
                  f"({scores['target_bn'] - scores['own_bn']:+.2f})", flush=True)
        out = {"models": rows}
    if args.json:
        write_json(args.json, {"target": str(args.target), "split": args.split, **out})


if __name__ == "__main__":
    raise SystemExit(run_tool(main, name="bn_statistics_check"))
