"""Running stage scripts and by-hand tools in tests, and checking how they fail.

* :func:`run_script` runs ``stages/<x>.py`` (or any script) in this process, as
  ``python <script> ARGS`` would, minus the interpreter start (imports are shared, so a
  run costs what its work costs); :func:`run_process` runs it as a real process.
* :func:`assert_one_clean_line`: a failed run's status is non-zero, stderr carries no
  traceback and its last line names the culprit.
* :func:`file_state` / :func:`assert_nothing_trusted_left`: what a failed run left behind
  is at most what may stay (resume checkpoints, snapshots, training curves).
* :func:`disk_full`: writes matching a predicate fail with ENOSPC once a few bytes went
  through, as on a full disk, by patching ``open`` inside this process.
* :data:`TINY` / :func:`tiny_params`: parameters that run every stage in a second or two.
"""
from __future__ import annotations

import contextlib
import errno
import fnmatch
import io
import os
import runpy
import subprocess
import sys
import tarfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import yaml

ROOT = Path(__file__).resolve().parent.parent

#: Overrides of params.yaml (section path -> values) small enough for tests.
TINY = {
    ("data", "synthetic"): dict(height=32, width=64, source_train=8, target_train=8,
                                target_val=4, target_test=4),
    ("model",): dict(width=4),
    ("init",): dict(weights="", layout="auto"),  # params.yaml's init is for width 16
    ("train",): dict(batch_size=4, checkpoint_every=1, log_every=1, snapshot_every=1),
    ("pretrain",): dict(iterations=2),
    ("oracle",): dict(iterations=2),
    ("adapt", "minent"): dict(iterations=2),
    ("adapt", "advent"): dict(iterations=2, d_width=4),
    ("self_train",): dict(iterations=2),
    ("pseudo_label",): dict(batch_size=4),
    ("rank",): dict(batch_size=4),
    ("intrada",): dict(iterations=2, d_width=4),
    ("adabn",): dict(batch_size=4),
    ("evaluate",): dict(batch_size=4, qualitative_samples=2, source_samples=4),
}

#: What a failed training run may leave: it resumes from these, and nothing trusts them.
MAY_STAY = ("*resume.pt", "*snapshots/*", "*dvclive/*")


def tiny_params(**overrides: object) -> dict:
    """params.yaml with :data:`TINY` applied, then ``overrides`` (dotted key -> value)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for path, values in TINY.items():
        node = params
        for key in path:
            node = node[key]
        node.update(values)
    for dotted, value in overrides.items():
        *parents, last = dotted.split(".")
        node = params
        for key in parents:
            node = node[key]
        node[last] = value
    return params


def write_params(path: Path, **overrides: object) -> Path:
    path.write_text(yaml.safe_dump(tiny_params(**overrides), sort_keys=False))
    return path


@dataclass
class Run:
    """How a script or tool run ended: exit status (None: it raised) and its output."""

    status: int | None
    stdout: str
    stderr: str

    @property
    def last_line(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else ""


def run_script(script: str | os.PathLike, *args: str | os.PathLike) -> Run:
    """``python <script> args...`` in this process (``script`` relative to the repository
    root, or absolute). An exception escaping the script (a traceback the user would
    see) gives status None and the traceback in stderr."""
    path = Path(script) if Path(script).is_absolute() else ROOT / script
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = [str(path), *map(str, args)]
    status: int | None = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runpy.run_path(str(path), run_name="__main__")
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if isinstance(exit_.code, str):
            err.write(exit_.code + "\n")
    except BaseException:  # noqa: BLE001 - what the user would see as a traceback
        status = None
        err.write(traceback.format_exc())
    finally:
        sys.argv = argv
    return Run(status, out.getvalue(), err.getvalue())


def run_tool(main: Callable[[list[str] | None], int], *args: str | os.PathLike) -> Run:
    """A by-hand tool's ``main(argv)`` in this process."""
    out, err = io.StringIO(), io.StringIO()
    status: int | None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main([str(a) for a in args])
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:  # noqa: BLE001
        status = None
        err.write(traceback.format_exc())
    return Run(status, out.getvalue(), err.getvalue())


def process_env(**extra: str) -> dict[str, str]:
    """This environment with the checkout first on the import path, one thread."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["OMP_NUM_THREADS"] = "1"
    env.pop("ADVENT_DEBUG", None)
    env.update(extra)
    return env


def run_process(script: str | os.PathLike, *args: str | os.PathLike, cwd: Path | None = None,
                env: dict[str, str] | None = None, **popen: object) -> Run:
    """``python <script> args...`` as a real process (status, no traceback: the real thing)."""
    path = Path(script) if Path(script).is_absolute() else ROOT / script
    done = subprocess.run([sys.executable, str(path), *map(str, args)], cwd=cwd,
                          env=env or process_env(), capture_output=True, text=True, **popen)
    return Run(done.returncode, done.stdout, done.stderr)


def assert_one_clean_line(run: Run, *culprits: str) -> None:
    """Non-zero status, no traceback, the last stderr line names every culprit, and no
    advice to load files unsafely."""
    context = f"status {run.status}, stderr:\n{run.stderr}"
    assert run.status is not None and run.status != 0, context
    assert "Traceback" not in run.stderr, context
    assert "weights_only=False" not in run.stderr and "`weights_only` set to `False`" not in run.stderr, context
    for culprit in culprits:
        assert str(culprit) in run.last_line, f"{culprit!r} not in the last line; {context}"


def file_state(root: Path) -> dict[str, tuple[int, int]]:
    """Relative path -> (size, mtime) of every file under ``root``."""
    state = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            info = path.lstat()
            state[path.relative_to(root).as_posix()] = (info.st_size, info.st_mtime_ns)
    return state


def assert_nothing_trusted_left(root: Path, before: dict[str, tuple[int, int]],
                                may_stay: tuple[str, ...] = MAY_STAY) -> None:
    """Every file under ``root`` that is new or changed since ``before`` matches one of
    ``may_stay`` (so: no final model, metrics or prepared dataset), and no temporary of
    an atomic write is left."""
    after = file_state(root)
    left = sorted(p for p, s in after.items()
                  if before.get(p) != s and not any(fnmatch.fnmatch(p, g) for g in may_stay))
    temporaries = sorted(str(Path(d).relative_to(root) / n) for d, dirs, _ in os.walk(root)
                         for n in dirs if n.startswith(".") and n.endswith(".tmp"))
    assert not left and not temporaries, f"left behind: {left + temporaries}"


class _FullFile(io.FileIO):
    """A file on a disk with ``budget[0]`` bytes free: writes beyond it fail with ENOSPC."""

    budget: list[int]

    def write(self, data) -> int:
        size = len(memoryview(data).cast("B"))
        if size > self.budget[0]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.budget[0] -= size
        return super().write(data)


@contextlib.contextmanager
def disk_full(matches: Callable[[Path], bool], free: int = 4096) -> Iterator[None]:
    """Inside the block, files opened for writing whose path ``matches`` share ``free``
    bytes of space; the write that needs more fails with ``OSError(ENOSPC)``, raised by
    the write call itself as on a real full disk. Patches ``open`` (builtins, io and
    tarfile's copy) in this process only."""
    real_open = io.open
    budget = [free]

    class Full(_FullFile):
        pass

    Full.budget = budget

    def full_open(file, mode="r", buffering=-1, encoding=None, errors=None, newline=None,
                  closefd=True, opener=None):
        writing = any(c in mode for c in "wax+")
        if isinstance(file, int) or not writing or not matches(Path(file)):
            return real_open(file, mode, buffering, encoding, errors, newline, closefd, opener)
        raw = Full(file, mode.replace("b", "").replace("t", ""), closefd=closefd, opener=opener)
        buffered = io.BufferedRandom(raw) if "+" in mode else io.BufferedWriter(raw)
        if "b" in mode:
            return buffered
        return io.TextIOWrapper(buffered, encoding=encoding or "utf-8", errors=errors, newline=newline)

    import builtins

    saved = builtins.open, io.open, tarfile.bltn_open
    builtins.open = io.open = tarfile.bltn_open = full_open
    try:
        yield
    finally:
        builtins.open, io.open, tarfile.bltn_open = saved
