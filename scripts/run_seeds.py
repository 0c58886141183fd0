"""Run the whole benchmark for several seeds and report mean +- std per method.

Each seed is one `dvc exp run -S train.seed=N` (so every run is a DVC experiment that
`dvc exp show` lists); the data (data.synthetic.seed) stay fixed, only training varies.
The seeds run one after the other, the default seed last, so the workspace ends on
the default configuration. Writes reports/seeds.md (and reports/seeds.json).

    python scripts/run_seeds.py --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from advent.data.labels import get_protocol  # noqa: E402
from advent.io import read_json, write_json, write_text  # noqa: E402
from advent.params import load_params  # noqa: E402
from advent.report.tables import aggregate_seeds, method_table  # noqa: E402

METHODS = {"source_only": "source only", "minent": "MinEnt", "advent": "AdvEnt",
           "ensemble": "AdvEnt+MinEnt", "self_train": "self-training", "oracle": "oracle (target labels)"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--metrics", type=Path, default=Path("metrics"))
    p.add_argument("--out", type=Path, default=Path("reports/seeds.md"))
    args = p.parse_args()

    default = load_params(ROOT / "params.yaml").train.seed
    order = [s for s in args.seeds if s != default] + [s for s in args.seeds if s == default]
    runs: dict[str, list[dict]] = {m: [] for m in METHODS}
    timings = {}
    for seed in order:
        start = time.time()
        subprocess.run([sys.executable, "-m", "dvc", "exp", "run", "-S", f"train.seed={seed}"],
                       cwd=ROOT, check=True)
        timings[seed] = round(time.time() - start, 1)
        for m in METHODS:
            runs[m].append(read_json(ROOT / args.metrics / m / "test.json"))
        print(f"seed {seed}: {timings[seed]} s; " + ", ".join(
            f"{m} {runs[m][-1]['mIoU']:.1f}" for m in METHODS), flush=True)

    protocol = get_protocol(runs["source_only"][0]["protocol"])
    aggregated = {METHODS[m]: aggregate_seeds(r) for m, r in runs.items()}
    table = method_table(aggregated, protocol, baseline=METHODS["source_only"],
                         selection=runs["source_only"][0]["selection"])
    write_json(ROOT / args.out.with_suffix(".json"),
               {"seeds": order, "seconds_per_run": timings,
                "mIoU": {METHODS[m]: [r["mIoU"] for r in rs] for m, rs in runs.items()}})
    write_text(ROOT / args.out, "\n".join([
        f"# Mean ± std over seeds {sorted(args.seeds)} (target test)", "",
        "Written by `scripts/run_seeds.py`: one `dvc exp run -S train.seed=N` per seed; "
        "the data are the same for every seed.", "", table, ""]))
    print(json.dumps({m: [round(r["mIoU"], 2) for r in rs] for m, rs in runs.items()}))


if __name__ == "__main__":
    main()
