"""Compare parameter variants over seeds on target val, as queued DVC experiments:
the evidence behind a default (reports/tuning.md links each table).

Each (variant, seed) is one `dvc exp run --queue -S train.seed=S -S key=value ...`,
restricted to the evaluations of --methods (and what they need); all run with `dvc queue
start -j JOBS`. A variant whose values the params schema would refuse stops the script
before anything is queued. Run it where the DVC cache holds what dvc.lock lists (after `dvc repro`,
or with no dvc.lock committed): an experiment restricted to some stages still commits the
outputs of all the others, and fails on any the cache lacks.
Writes reports/tuning/NAME.md and reports/tuning/NAME.json ({"runs": [{"variant",
"seed", "experiment", "mIoU": {method: val mIoU}}], ...}). A run that failed or is missing
is marked "failed": true there, left out of the tables and named under them; the script
then exits with status 1.

    python scripts/tune.py warmup --methods source_only --seeds 0 1 2 \\
        --variant "no warm-up" train.warmup_iterations=0 \\
        --variant "warm-up 100" train.warmup_iterations=100
    python scripts/tune.py warmup --collect        # re-read the runs named in NAME.json
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from advent.cli import run_tool
from advent.io import read_json, write_json, write_text
from advent.report.compare import read_json_at
from advent.report.queue import (DvcError, check_settings, experiment_rows, parse_settings,
                                 queue_experiment, run_queue)
from advent.report.results import METHODS
from advent.report.tuning import tuning_markdown

ROOT = Path(__file__).resolve().parent.parent


def parse_variant(tokens: list[str]) -> tuple[str, dict[str, str]]:
    label, *pairs = tokens
    try:
        return label, parse_settings(pairs)
    except ValueError as err:
        raise SystemExit(f"tune: --variant {label!r}: {err}") from None


def check_variant(label: str, settings: dict[str, str], seeds: list[int]) -> None:
    """Refuse a variant whose params.yaml would be refused, before anything is queued
    (advent.report.queue.check_settings)."""
    try:
        check_settings(ROOT / "params.yaml", settings, seeds)
    except ValueError as err:
        raise SystemExit(f"tune: --variant {label!r}: {err}") from None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", help="the comparison's name: reports/tuning/NAME.{md,json}")
    p.add_argument("--variant", nargs="+", action="append", default=[], metavar="LABEL KEY=VALUE",
                   help="a label and the params it sets (repeat the option per variant)")
    p.add_argument("--methods", nargs="+", default=["source_only"], choices=METHODS, metavar="METHOD",
                   help="methods to score; each run evaluates evaluate@<method> (ensemble: "
                        "evaluate_ensemble) and what it needs (default: source_only)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--jobs", type=int, default=2,
                   help="queue workers to start (default 2; 0 = start none and wait for the "
                        "workers already running)")
    p.add_argument("--title", default=None, help="the table's title (default: NAME)")
    p.add_argument("--collect", action="store_true", help="queue nothing: re-read NAME.json's runs")
    args = p.parse_args(argv)

    out = ROOT / "reports" / "tuning" / f"{args.name}.json"
    if args.collect:
        if not out.is_file():
            p.error(f"--collect: no {out.relative_to(ROOT)} (the comparison NAME was never queued here)")
        plan = read_json(out)
    else:
        if not args.variant:
            p.error("give at least one --variant LABEL [KEY=VALUE ...]")
        variants = {}
        for label, settings in map(parse_variant, args.variant):
            if label in variants:
                sys.exit(f"tune: --variant label {label!r} given twice")
            check_variant(label, settings, args.seeds)
            variants[label] = settings
        targets = [("evaluate_ensemble" if m == "ensemble" else f"evaluate@{m}") for m in args.methods]
        stamp = int(time.time())
        runs = []
        try:
            for i, (label, settings) in enumerate(variants.items()):
                for seed in args.seeds:
                    name = f"tune-{args.name}-v{i}-s{seed}-{stamp}"
                    queue_experiment(ROOT, name, {"train.seed": seed, **settings}, targets)
                    runs.append({"variant": label, "seed": seed, "experiment": name})
        except DvcError as err:
            sys.exit(f"tune: {err}\nalready queued: {[r['experiment'] for r in runs]} "
                     "(`dvc queue remove NAME` drops them)")
        argv = sys.argv[1:] if argv is None else argv
        plan = {"command": shlex.join(["python", "scripts/tune.py", *argv]),
                "title": args.title or args.name, "methods": args.methods,
                "variants": variants, "runs": runs}
        write_json(out, plan)  # the runs' names, so --collect can re-read them
        plan["wall_seconds"] = round(run_queue(ROOT, args.jobs), 1)
    failed = score_runs(plan)
    write_json(out, plan)
    finished = [r for r in plan["runs"] if not r.get("failed")]
    note = plan.get("note", "")
    if failed:
        note += (" " if note else "") + (
            "Failed or missing, so left out of the tables: "
            + ", ".join(f"{r['variant']} seed {r['seed']} (`{r['experiment']}`)" for r in failed)
            + "; `dvc queue logs NAME` says why.")
    text = tuning_markdown(plan["title"], plan["command"], plan["variants"], finished,
                           plan["methods"], note)
    write_text(out.with_suffix(".md"), text)
    print(text)
    if failed:
        print(f"tune: {len(failed)} of {len(plan['runs'])} runs failed or are missing: "
              f"{[r['experiment'] for r in failed]} (`dvc queue logs NAME` says why)", file=sys.stderr)
        return 1
    return 0


def score_runs(plan: dict) -> list[dict]:
    """Give each run of ``plan`` its val mIoU per method, read at its experiment's commit,
    or ``failed: true`` when the experiment failed or is missing; the failed runs. Stops
    when none finished: there is no table to write."""
    try:
        rows, failed = experiment_rows(ROOT, [r["experiment"] for r in plan["runs"]])
    except DvcError as err:
        sys.exit(f"tune: {err}")
    if rows.empty:
        sys.exit(f"tune: every run failed or is missing: {failed} (`dvc queue logs NAME` says why)")
    rev = dict(zip(rows["name"], rows["rev"]))
    for run in plan["runs"]:
        run.pop("mIoU", None)
        run.pop("failed", None)
        if run["experiment"] in failed:
            run["failed"] = True
            continue
        at = rev[run["experiment"]]  # val.json holds {method: {"val": {"mIoU": x, ...}}}
        run["mIoU"] = {m: read_json_at(ROOT, at, f"metrics/{m}/val.json")[m]["val"]["mIoU"]
                       for m in plan["methods"]}
    return [r for r in plan["runs"] if r.get("failed")]


if __name__ == "__main__":
    raise SystemExit(run_tool(main, name="tune"))
