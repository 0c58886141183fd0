"""What every entry point shares: argument parsing, parameter loading, the one error
path, and the DVCLive logger of the training stages.

A DVC stage script is ``main(args, params)`` plus a parser; :func:`run_stage` loads
``params.yaml`` strictly and calls it. By-hand tools (``advent-download`` and the
others) go through :func:`run_tool`. Either way a failure ends the process with exit
status 1 and one line on stderr naming the culprit (file, key or value), known causes
translated (no space left, permission denied, ...). ``--debug`` or the environment
variable ``ADVENT_DEBUG=1`` lets the exception through instead, with its traceback.
"""
from __future__ import annotations

import argparse
import errno
import os
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from advent.params import Params, load_params

#: Set to 1 to get the traceback of a failure instead of its one-line summary.
DEBUG_ENV = "ADVENT_DEBUG"
#: Errors whose message is written for the user (it names the culprit); any other
#: exception is a bug, and its one line says so.
KNOWN_ERRORS = (ValueError, FileNotFoundError, FloatingPointError, RuntimeError, OSError,
                ImportError, MemoryError)
_DEBUG_HINT = f"run with --debug or {DEBUG_ENV}=1 for the traceback"


def add_debug_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true",
                        help=f"on an error, show the full traceback (or set {DEBUG_ENV}=1)")


def stage_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with ``--params`` (the parameter file a stage reads) and ``--debug``."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml", type=Path,
                   help="parameter file (default: params.yaml)")
    add_debug_flag(p)
    return p


def debug_requested(argv: Sequence[str] | None = None) -> bool:
    """``--debug`` among the arguments (default: the process's), or ``ADVENT_DEBUG`` set."""
    argv = sys.argv[1:] if argv is None else argv
    return os.environ.get(DEBUG_ENV, "").strip() not in ("", "0") or "--debug" in argv


def _os_error(err: OSError) -> str:
    where = err.filename
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        cause = "no space left on device" if err.errno == errno.ENOSPC else "disk quota exceeded"
        return f"{cause} while writing {where}" if where else cause
    if where is None or err.errno is None:
        return str(err)
    if err.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied: {where}"
    if err.errno == errno.EROFS:
        return f"read-only file system: {where}"
    if err.errno == errno.EFBIG:
        return f"file too large (a file-size limit?) while writing {where}"
    if err.errno == errno.ENOENT:
        return f"no such file or directory: {where}"
    return f"{where}: {err.strerror}"


def _one_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if any(line.startswith("Original Traceback") for line in lines):
        return lines[-1]  # an error re-raised from a DataLoader worker: its last line
    return " ".join(lines)


def describe_error(err: BaseException) -> str:
    """The one line that reports ``err``: its message, or the translated OS error."""
    if isinstance(err, MemoryError):
        return "out of memory" + (f": {err}" if str(err) else "")
    if isinstance(err, OSError) and err.errno is not None:
        return _one_line(_os_error(err))
    if isinstance(err, KNOWN_ERRORS):
        return _one_line(str(err)) or type(err).__name__
    return f"unexpected {type(err).__name__}: {_one_line(str(err))} (a bug; {_DEBUG_HINT})"


def _failure_status(name: str, err: BaseException, debug: bool) -> int:
    """Print the one line for ``err`` and return the exit status; with ``debug`` re-raise
    it instead, traceback and all."""
    if debug:
        raise err
    if isinstance(err, KeyboardInterrupt):
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    sys.stdout.flush()
    print(f"{name}: error: {describe_error(err)}", file=sys.stderr)
    return 1


def _program() -> str:
    return Path(sys.argv[0]).stem


def run_stage(main: Callable[[argparse.Namespace, Params], None], args: argparse.Namespace,
              computes: bool = False) -> None:
    """Load params strictly, call ``main``; a failure exits 1 with one clear line.

    ``computes``: the stage does tensor arithmetic, so ``train.threads`` and
    ``train.cpu_capability`` are applied before it starts (its dvc.yaml entry declares them).
    """
    start = time.time()
    name = _program()
    try:
        params = load_params(args.params)
        if computes:  # imported here: the stages that do not compute never load torch
            from advent.runtime import apply_float_setting

            apply_float_setting(params.train.threads, params.train.cpu_capability)
        main(args, params)
    except (Exception, KeyboardInterrupt) as err:  # noqa: BLE001 - the one error path
        sys.exit(_failure_status(name, err, getattr(args, "debug", False) or debug_requested([])))
    print(f"{name}: done in {time.time() - start:.1f} s", file=sys.stderr)


def run_tool(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None,
             name: str | None = None) -> int:
    """Call a by-hand tool's ``main(argv)``; a failure prints one clear line and returns 1
    (argparse's own exits, ``--help`` and usage errors, pass through)."""
    try:
        return int(main(argv) or 0)
    except (Exception, KeyboardInterrupt) as err:  # noqa: BLE001 - the one error path
        return _failure_status(name or _program(), err, debug_requested(argv))


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
