"""What every entry point shares: argument parsing, parameter loading, the one error
path, and the DVCLive logger of the training stages.

A DVC stage script is ``main(args, params)`` plus a parser; :func:`run_stage` loads
``params.yaml`` strictly and calls it. By-hand tools (``advent-download`` and the
others) go through :func:`run_tool`. Either way a known failure ends the process with
exit status 1 and one line on stderr naming the culprit.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable

from advent.config import ConfigError
from advent.params import Params, load_params
from advent.runtime import apply_float_setting

#: Errors that carry a message meant for the user (the culprit is named in it).
KNOWN_ERRORS = (ConfigError, ValueError, FileNotFoundError, FloatingPointError, RuntimeError,
                OSError)


def stage_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with ``--params`` (the parameter file a stage reads)."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml", type=Path,
                   help="parameter file (default: params.yaml)")
    return p


def _program() -> str:
    return Path(sys.argv[0]).stem


def _fail(name: str, err: BaseException) -> None:
    print(f"{name}: error: {err}", file=sys.stderr)
    sys.exit(1)


def run_stage(main: Callable[[argparse.Namespace, Params], None], args: argparse.Namespace,
              computes: bool = False) -> None:
    """Load params strictly, call ``main``; known failures exit 1 with one clear line.

    ``computes``: the stage does tensor arithmetic, so ``train.threads`` and
    ``train.cpu_capability`` are applied before it starts (its dvc.yaml entry declares them).
    """
    start = time.time()
    name = _program()
    try:
        params = load_params(args.params)
        if computes:
            apply_float_setting(params.train.threads, params.train.cpu_capability)
        main(args, params)
    except KNOWN_ERRORS as err:
        _fail(name, err)
    print(f"{name}: done in {time.time() - start:.1f} s", file=sys.stderr)


def run_tool(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Call a by-hand tool's ``main(argv)``; known failures exit 1 with one clear line."""
    try:
        return int(main(argv) or 0)
    except KNOWN_ERRORS as err:
        _fail(_program(), err)
    return 1


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
