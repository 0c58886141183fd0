"""The one error path (advent.cli): what its one line says for each kind of failure."""
from __future__ import annotations

import argparse
import errno

import pytest

from advent.cli import describe_error, run_stage, run_tool
from tests.stage_runs import ROOT


@pytest.mark.parametrize("err, line", [
    (OSError(errno.ENOSPC, "No space left on device", "models/x/model.pt"),
     "no space left on device while writing models/x/model.pt"),
    (OSError(errno.ENOSPC, "No space left on device"), "no space left on device"),
    (PermissionError(errno.EACCES, "Permission denied", "data/prepared"),
     "permission denied: data/prepared"),
    (OSError(errno.EROFS, "Read-only file system", "/mnt/ro/x"), "read-only file system: /mnt/ro/x"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "params.yaml"),
     "no such file or directory: params.yaml"),
    (FileNotFoundError("prepared dataset not found: expected a folder at x"),
     "prepared dataset not found: expected a folder at x"),
    (ValueError("x does not fit:\n  3 missing keys, first: [a]\n  2 unexpected keys"),
     "x does not fit: 3 missing keys, first: [a] 2 unexpected keys"),
    # An error re-raised from a DataLoader worker carries the worker's traceback as text.
    (ValueError("Caught ValueError in DataLoader worker process 0.\nOriginal Traceback (most "
                "recent call last):\n  File \"w.py\", line 3, in f\nValueError: corrupt shard s.tar"),
     "ValueError: corrupt shard s.tar"),
    (KeyError("splits"), "unexpected KeyError: 'splits' (a bug; run with --debug or ADVENT_DEBUG=1"),
])
def test_describe_error_gives_one_line_naming_the_culprit(err, line):
    described = describe_error(err)
    assert "\n" not in described and described.startswith(line), described


def test_run_stage_reports_a_bug_in_one_line_and_exits_1(monkeypatch, capsys):
    monkeypatch.delenv("ADVENT_DEBUG", raising=False)
    monkeypatch.setattr("sys.argv", ["stages/x.py"])

    def main(args, params):
        return {}["missing"]

    with pytest.raises(SystemExit) as exit_:
        run_stage(main, argparse.Namespace(params=ROOT / "params.yaml", debug=False))
    assert exit_.value.code == 1
    assert capsys.readouterr().err == ("x: error: unexpected KeyError: 'missing' (a bug; run with "
                                       "--debug or ADVENT_DEBUG=1 for the traceback)\n")
    with pytest.raises(KeyError):  # --debug: the exception itself, traceback and all
        run_stage(main, argparse.Namespace(params=ROOT / "params.yaml", debug=True))


def test_run_tool_returns_1_and_lets_argparse_exits_through(monkeypatch, capsys):
    monkeypatch.delenv("ADVENT_DEBUG", raising=False)

    def tool(argv):
        parser = argparse.ArgumentParser(prog="tool")
        parser.add_argument("--n", type=int, required=True)
        parser.add_argument("--debug", action="store_true")
        args = parser.parse_args(argv)
        raise ValueError(f"--n {args.n}: too many")

    assert run_tool(tool, ["--n", "3"], "tool") == 1
    assert capsys.readouterr().err == "tool: error: --n 3: too many\n"
    with pytest.raises(SystemExit) as exit_:
        run_tool(tool, ["--n", "x"], "tool")  # a usage error: argparse's own message, status 2
    assert exit_.value.code == 2
    with pytest.raises(ValueError):
        run_tool(tool, ["--n", "3", "--debug"], "tool")
    monkeypatch.setenv("ADVENT_DEBUG", "1")
    with pytest.raises(ValueError):
        run_tool(tool, ["--n", "3"], "tool")
