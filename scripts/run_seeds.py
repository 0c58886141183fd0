"""Run the whole benchmark for several seeds and report mean +- std per method.

Each seed is a queued DVC experiment (`dvc exp run --queue -S train.seed=N`), run by
`dvc queue start -j JOBS`; `dvc exp show` lists them afterwards. The data
(data.synthetic.seed) stay fixed: only training varies. The experiments are found with
`dvc exp show --json`; each one's metrics/<method>/details.json (per-class IoU, protocol,
model selection) is read at its commit. Written to reports/seeds.md (+ reports/seeds.json).

    python scripts/run_seeds.py --seeds 0 1 2 --jobs 1

With --jobs above 1 each worker should use one thread: the script sets
OMP_NUM_THREADS=1 for the queue workers it starts in that case.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from advent.data.labels import get_protocol
from advent.io import write_json, write_text
from advent.report.compare import experiments_frame, read_json_at, run_exp_show
from advent.report.results import METHODS, method_label
from advent.report.tables import aggregate_seeds, method_table


def dvc(*args: str, env: dict | None = None) -> str:
    result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"run_seeds: dvc {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def per_method(rev: str) -> dict[str, dict]:
    """{method: its target-test record} of the experiment committed at ``rev``: mIoU,
    protocol subsets, per-class IoU, protocol, selection, lambda_cp (advent.evaluation)."""
    return {m: read_json_at(ROOT, rev, f"metrics/{m}/details.json")["test"] for m in METHODS}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--jobs", type=int, default=1, help="queue workers running at once")
    p.add_argument("--out", type=Path, default=Path("reports/seeds.md"))
    args = p.parse_args()

    names = {}
    for seed in args.seeds:
        name = f"seed-{seed}-{int(time.time())}"
        dvc("exp", "run", "--queue", "--name", name, "-S", f"train.seed={seed}")
        names[name] = seed
    env = dict(os.environ)
    if args.jobs > 1:
        env["OMP_NUM_THREADS"] = "1"
    start = time.time()
    dvc("queue", "start", "-j", str(args.jobs), env=env)
    while True:
        time.sleep(20)
        status = dvc("queue", "status")
        if not any(f" {s}" in status for s in ("Running", "Queued")):
            break
    elapsed = time.time() - start

    # All commits: a commit made while the seeds ran moves HEAD, and `dvc exp show` alone
    # would then no longer list experiments queued on the old one. The names are unique.
    frame = experiments_frame(run_exp_show(ROOT, all_commits=True))
    rows = frame[frame["name"].isin(names)]
    failed = sorted(set(names) - set(rows[rows["state"] == "success"]["name"]))
    if failed:
        sys.exit(f"run_seeds: experiments failed or missing: {failed} (see `dvc queue logs NAME`)")
    runs = {m: [] for m in METHODS}
    for rev in rows["rev"]:
        for m, record in per_method(rev).items():
            runs[m].append(record)
    protocol = get_protocol(runs["source_only"][0]["protocol"])
    label = {m: method_label(m, max(r.get("lambda_cp") or 0.0 for r in rs)) for m, rs in runs.items()}
    aggregated = {label[m]: aggregate_seeds(r) for m, r in runs.items()}
    table = method_table(aggregated, protocol, baseline=label["source_only"],
                         selection=runs["source_only"][0]["selection"])
    write_json(ROOT / args.out.with_suffix(".json"), {
        "experiments": {n: names[n] for n in rows["name"]}, "wall_seconds": round(elapsed, 1),
        "jobs": args.jobs,
        "mIoU": {label[m]: [r["mIoU"] for r in rs] for m, rs in runs.items()}})
    write_text(ROOT / args.out, "\n".join([
        f"# Mean ± std over seeds {sorted(args.seeds)} (target test)", "",
        "Written by `scripts/run_seeds.py`: one queued `dvc exp run -S train.seed=N` per seed "
        "(`dvc exp show` lists them); the data are the same for every seed.", "", table, ""]))
    print(table)
    print(json.dumps({label[m]: [round(r["mIoU"], 2) for r in rs] for m, rs in runs.items()}))


if __name__ == "__main__":
    main()
