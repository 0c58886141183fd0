"""The whole benchmark over seeds x float settings, as queued DVC experiments, and the
table every claim of the README rests on.

Each run is one `dvc exp run --queue -S train.seed=S -S train.threads=T
-S train.cpu_capability=K` (plus any --set KEY=VALUE), all started with `dvc queue
start -j JOBS`. A float setting is a thread count and a CPU kernel set: `2:avx2` makes
an AVX-512 machine compute the way an AVX2 machine with two threads does (`2:default`
does the same for an AVX2 one).
Both are parameters, so `dvc exp show` lists them; the threads, kernel set and CPU each
run actually used are read back from its evaluation records
(metrics/<method>/details.json at the experiment's commit).

Writes reports/robustness.md and reports/robustness.json: {"command", "jobs",
"wall_seconds", "split", "selection", "methods", "runs": [{"seed", "threads",
"cpu_capability", "cpu", "torch", "experiment", "mIoU": {method: x}, "lambda_cp": {method:
x}}], "summary": {method: {"mIoU": stats, "gain": stats}}, "spread": {method: what another
float setting and another seed alone move}, "over_adabn": the summary with gains over
AdaBN (null without it), "targets": [...], "whole_pipeline": false when --methods
restricted the runs to some stages}

    python scripts/robustness.py                                  # 5 seeds x 2 settings
    python scripts/robustness.py --seeds 0 1 --settings 1:native --jobs 2
    python scripts/robustness.py --set intrada.with_source=true   # a candidate default
    python scripts/robustness.py --collect NAME [NAME ...]        # re-read finished runs
    python scripts/robustness.py --collect NAME ... --split val --out reports/tuning/X.md
    python scripts/robustness.py --render reports/tuning/X.json   # rewrite X.md from X.json

`--split val` reads the runs' target val scores instead: the same table for comparing
settings while tuning, where the test split must stay unread. For experiments restricted
to some stages (scripts/tune.py's), give `--methods` the ones they ran: the others' metrics
at such an experiment's commit are the workspace's, not its own.

`--render` rewrites a report's markdown from its JSON record alone (the experiments may
be gone): the statistics are recomputed from the recorded runs.
"""
from __future__ import annotations

import argparse
import shlex
import dataclasses
import sys
import time
from pathlib import Path

from advent.cli import run_tool
from advent.io import read_json, write_json, write_text
from advent.report.compare import read_json_at
from advent.report.queue import (DvcError, check_settings, finished_experiments, parse_settings,
                                 queue_experiment, run_queue)
from advent.report.results import METHODS, method_label
from advent.report.robustness import (check_targets, robustness_markdown, spread_sources,
                                      summarize_runs)

ROOT = Path(__file__).resolve().parent.parent


def parse_setting(text: str) -> tuple[int, str]:
    threads, _, kernels = text.partition(":")
    if not threads.isdigit() or kernels not in ("native", "avx512", "avx2", "default"):
        raise argparse.ArgumentTypeError(
            f"a float setting is THREADS:KERNELS with KERNELS native|avx512|avx2|default, got {text!r}")
    return int(threads), kernels


def lower_kernels() -> str:
    """A kernel set below this CPU's own: AVX2 on an AVX-512 machine, else the default
    (SSE4.1) set, so the second setting computes the way another machine does (on a CPU
    with only the default set, only the thread count differs)."""
    import torch  # only here: --collect and --help need no torch

    return "avx2" if torch.backends.cpu.get_cpu_capability().lower() == "avx512" else "default"


def queue(seeds: list[int], settings: list[tuple[int, str]], extra: dict[str, str]) -> list[str]:
    stamp = int(time.time())
    names = []
    for seed in seeds:
        for threads, kernels in settings:
            name = f"rob-s{seed}-t{threads}-{kernels}-{stamp}"
            queue_experiment(ROOT, name, {"train.seed": seed, "train.threads": threads,
                                          "train.cpu_capability": kernels, **extra})
            names.append(name)
    return names


def scored_details(rev: str, methods: list[str], split: str) -> dict[str, dict]:
    """metrics/<method>/details.json at ``rev`` for each of ``methods`` the experiment
    scored on target ``split`` (one made before a method joined the pipeline has no
    metrics for it; a skipped stage, such as AdaBN of a network without BN, has a record
    without a score)."""
    found = {}
    for m in methods:
        try:
            details = read_json_at(ROOT, rev, f"metrics/{m}/details.json")
        except RuntimeError:
            continue
        if isinstance(details.get(split), dict) and details[split].get("mIoU") is not None:
            found[m] = details
    return found


def collect(names: list[str], methods: list[str], split: str) -> tuple[list[dict], str, list[str]]:
    """One record per finished experiment, the model-selection label they share, and the
    methods every one of them evaluated (the others are left out, with a note)."""
    rows = finished_experiments(ROOT, names)
    per_run = {rev: scored_details(rev, methods, split) for rev in rows["rev"]}
    common = [m for m in methods if all(m in scored for scored in per_run.values())]
    if "source_only" not in common:
        sys.exit("robustness: the experiments have no source-only metrics to pair the gains with")
    if dropped := [m for m in methods if m not in common]:
        print(f"robustness: not every experiment scored {dropped}; they are left out", file=sys.stderr)
    methods = common
    runs, selections = [], set()
    for _, row in rows.iterrows():
        details = per_run[row["rev"]]
        trained = details["source_only"]["float_setting"]["training"][0]
        runs.append({"experiment": row["name"], "seed": int(row["train.seed"]),
                     "threads": trained["threads"], "cpu_capability": trained["cpu_capability"].lower(),
                     "cpu": trained["cpu"], "torch": trained["torch"],
                     "mIoU": {m: details[m][split]["mIoU"] for m in methods},
                     "lambda_cp": {m: details[m][split].get("lambda_cp") for m in methods}})
        selections |= {details[m][split]["selection"] for m in methods}
    if len(selections) != 1:
        sys.exit(f"robustness: runs were evaluated with different model selections: {sorted(selections)}")
    return runs, selections.pop(), methods


def render(record: dict) -> str:
    """The markdown of a robustness record (the JSON this script writes), its statistics
    and targets recomputed from the recorded runs."""
    runs = record["runs"]
    if not runs:
        raise ValueError("the record has no runs")
    # Older records have no "methods" (each run's scores list them) and no "split" (test).
    methods = record.get("methods") or list(runs[0]["mIoU"])
    summary = summarize_runs(runs, methods)
    labels = {m: method_label(m, max(r["lambda_cp"][m] or 0.0 for r in runs)) for m in methods}
    # Records written before "whole_pipeline" existed say it by their command.
    whole = record.get("whole_pipeline", "--methods" not in shlex.split(record["command"]))
    return robustness_markdown(runs, summary, check_targets(runs, summary), labels, record["command"],
                               record["selection"], record.get("split", "test"), whole_pipeline=whole)


def render_file(path: Path) -> None:
    """Rewrite the markdown beside the JSON record at ``path`` from the record alone."""
    try:
        record = read_json(path)
        if not isinstance(record, dict):
            raise ValueError(f"not a robustness record (a JSON {type(record).__name__}, not an object)")
        text = render(record)
    except (OSError, ValueError) as err:
        sys.exit(f"robustness: --render {path}: {err}")
    except KeyError as err:
        sys.exit(f"robustness: --render {path}: not a robustness record, it has no key {err}")
    except TypeError as err:  # a score or a field of the wrong type
        sys.exit(f"robustness: --render {path}: not a robustness record ({err})")
    write_text(path.with_suffix(".md"), text)
    print(text)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--settings", type=parse_setting, nargs="+", metavar="THREADS:KERNELS",
                   help="float settings (default: 1:native and 2:avx2 on an AVX-512 CPU, "
                        "else 1:native and 2:default)")
    p.add_argument("--jobs", type=int, default=2, help="queue workers running at once (default 2)")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="extra",
                   help="params every queued run also sets, as `dvc exp run -S` (the table of "
                        "a candidate default before it becomes one)")
    p.add_argument("--collect", nargs="+", metavar="NAME",
                   help="queue nothing: re-read these finished experiments")
    p.add_argument("--split", choices=("test", "val"), default="test",
                   help="the target split whose scores make the table (default test; val "
                        "for tuning)")
    p.add_argument("--methods", nargs="+", choices=METHODS, metavar="METHOD",
                   help="with --collect: the methods to read, source-only always among them "
                        "(default: every one in metrics/)")
    p.add_argument("--out", type=Path, default=Path("reports/robustness.md"))
    p.add_argument("--render", type=Path, metavar="JSON",
                   help="queue and read nothing: rewrite the markdown beside this record from it")
    args = p.parse_args(argv)

    if args.render:
        return render_file(args.render)

    if args.methods and not args.collect:
        p.error("--methods goes with --collect: a queued run scores every method")
    if args.extra and args.collect:
        p.error("--set goes with queued runs, not --collect")
    try:
        extra = parse_settings(args.extra)
        if axes := sorted(set(extra) & {"train.seed", "train.threads", "train.cpu_capability"}):
            raise ValueError(f"{axes[0]} is the table's own axis (--seeds, --settings)")
        check_settings(ROOT / "params.yaml", extra, args.seeds)
    except ValueError as err:
        p.error(f"--set: {err}")
    # Gains pair with source-only, so it is always read.
    methods = (list(dict.fromkeys(["source_only", *args.methods])) if args.methods
               else [m for m in METHODS if (ROOT / "metrics" / m).is_dir()])
    command = shlex.join(["python", "scripts/robustness.py", *(sys.argv[1:] if argv is None else argv)])
    elapsed = None
    try:
        if args.collect:
            names = args.collect
        else:
            names = queue(args.seeds, args.settings or [(1, "native"), (2, lower_kernels())], extra)
            elapsed = run_queue(ROOT, args.jobs)
        runs, selection, methods = collect(names, methods, args.split)
    except DvcError as err:
        sys.exit(f"robustness: {err}")
    summary = summarize_runs(runs, methods)
    record = {
        "command": command.strip(), "jobs": args.jobs,
        "wall_seconds": round(elapsed, 1) if elapsed is not None else None,
        "split": args.split, "selection": selection, "methods": methods, "runs": runs, "summary": summary,
        "spread": spread_sources(runs, methods),
        "over_adabn": summarize_runs(runs, methods, baseline="adabn") if "adabn" in methods else None,
        "targets": [dataclasses.asdict(t) for t in check_targets(runs, summary)],
        "whole_pipeline": not args.methods}
    write_json(ROOT / args.out.with_suffix(".json"), record)
    text = render(record)
    write_text(ROOT / args.out, text)
    print(text)


if __name__ == "__main__":
    raise SystemExit(run_tool(main, name="robustness"))
