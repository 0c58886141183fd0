"""What every stage script shares: argument parsing, parameter loading, error
reporting, and the DVCLive logger. Kept here, not in the library, because it is
about running as a DVC stage."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable

# Stage scripts run as `python stages/x.py` from the repository root.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from advent.params import Params, load_params  # noqa: E402


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml", type=Path,
                   help="parameter file (default: params.yaml)")
    return p


def run(main: Callable[[argparse.Namespace, Params], None], args: argparse.Namespace) -> None:
    """Load params strictly, call ``main``; known failures exit 1 with one clear line."""
    start = time.time()
    name = Path(sys.argv[0]).stem
    try:
        main(args, load_params(args.params))
    except (ValueError, FileNotFoundError, FloatingPointError, RuntimeError) as err:
        print(f"{name}: error: {err}", file=sys.stderr)
        sys.exit(1)
    print(f"{name}: done in {time.time() - start:.1f} s", file=sys.stderr)


def dvclive_logger(directory: str):
    """A LogFn writing training curves with DVCLive (``dvc plots show`` reads them);
    None on every rank but 0 under torchrun, so one process writes the curves."""
    if int(os.environ.get("RANK", "0")) != 0:
        return None
    from dvclive import Live

    live = Live(dir=directory, save_dvc_exp=False, dvcyaml=None, report=None)

    def log(step: int, values: dict[str, float]) -> None:
        live.step = step
        for key, value in values.items():
            live.log_metric(key, value)
        live.next_step()
        print(f"[{directory}] step {step}: " +
              " ".join(f"{k}={v:.4g}" for k, v in values.items()), file=sys.stderr, flush=True)

    return log
