"""Time the full benchmark: `dvc repro` in a fresh clone of this repository.

Prints the wall time of each stage and of the whole run, the CPU time of the whole run
(user + system of `dvc repro` and every stage process, the clone included: what the run
costs on a busy machine, where wall time depends on what else runs), and the peak
resident memory of the largest process (the stages run one after another, so that is
the peak of the run). The clone is
of the committed state (HEAD), and its stages import the clone's own package; nothing in
this checkout changes.

    python scripts/benchmark_repro.py                  # fresh clone in a temporary folder
    python scripts/benchmark_repro.py --keep runs/x    # ... kept there afterwards
    python scripts/benchmark_repro.py --json out.json  # figures also as JSON

Run it with the project's environment active (the stages' `python` is this one).
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from advent.io import write_json

STAGE = re.compile(r"^Running stage '([^']+)'")


def repro(repo: Path) -> tuple[list[tuple[str, float]], float]:
    """Run `dvc repro` in ``repo``; (stage, seconds) in run order and the total seconds."""
    env = dict(os.environ, DVC_NO_ANALYTICS="1", PYTHONPATH=str(repo),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    start = time.perf_counter()
    stages: list[tuple[str, float]] = []
    current, since = None, start
    proc = subprocess.Popen([sys.executable, "-m", "dvc", "repro"], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        match = STAGE.match(line)
        if match:
            now = time.perf_counter()
            if current is not None:
                stages.append((current, now - since))
            current, since = match.group(1), now
    if proc.wait() != 0:
        sys.exit(f"benchmark_repro: dvc repro failed in {repo} (exit {proc.returncode})")
    end = time.perf_counter()
    if current is not None:
        stages.append((current, end - since))
    return stages, end - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--keep", type=Path, help="clone into this (new) folder and keep it")
    p.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="advent-repro-") as tmp:
        repo = args.keep or Path(tmp) / "repo"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
        stages, total = repro(repo)
    # Children's usage: every finished descendant (dvc waits for each stage process).
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_mib = usage.ru_maxrss / 1024  # the largest one, KiB on Linux
    cpu_s = usage.ru_utime + usage.ru_stime

    width = max((len(s) for s, _ in stages), default=5)
    print(f"\n{'stage':<{width}}  seconds")
    for name, seconds in stages:
        print(f"{name:<{width}}  {seconds:7.1f}")
    print(f"{'total':<{width}}  {total:7.1f}  ({total / 60:.1f} min)")
    print(f"CPU time of all stages: {cpu_s:.0f} s ({cpu_s / 60:.1f} min)")
    print(f"peak memory (largest process): {peak_mib:.0f} MiB; CPU threads: {os.cpu_count()}")
    if args.json:
        write_json(args.json, {"stages": dict(stages), "total_s": total, "cpu_s": cpu_s,
                               "peak_rss_mib": peak_mib})


if __name__ == "__main__":
    main()
