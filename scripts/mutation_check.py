#!/usr/bin/env python
"""Mutation check, run by hand (not part of CI): does the test suite catch plausible bugs?

Every entry of ``tests/mutations.yaml`` replaces one exact snippet of a core module. Each
mutation is applied, alone, to a temporary copy of the repository (the working tree is
never touched), and its tests run there with ``pytest -x -q`` and the copy first on
``PYTHONPATH``. A mutation is *caught* when those tests fail, and *survives* when they pass.

    python scripts/mutation_check.py                     # the whole list
    python scripts/mutation_check.py --only resume-rng-not-restored iou-union
    python scripts/mutation_check.py --list              # ids and descriptions, runs nothing

Before any mutation, the list is checked (each snippet occurs exactly once in its file,
each mutated file still compiles, every test path exists) and the named tests are run
once unmutated: they must pass, or every "catch" would be meaningless.

Exit status 0 when every mutation is caught; 1 when one survives, when the list is out of
date with the code (a snippet not found exactly once, a mutation that does not compile, a
test path that does not exist) or when the unmutated tests fail.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LIST = REPO / "tests" / "mutations.yaml"
FIELDS = ("id", "file", "original", "replacement", "description", "tests")


@dataclass(frozen=True)
class Mutation:
    id: str
    file: str
    original: str
    replacement: str
    description: str
    tests: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    mutation: Mutation
    caught: bool
    seconds: float
    detail: str  # the first failing test, or why the run counts as caught


def load_mutations(path: Path) -> list[Mutation]:
    """Parse the list; raise ValueError naming the entry and field that is wrong."""
    entries = yaml.safe_load(path.read_text())
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: expected a non-empty list of mutations")
    mutations, seen = [], set()
    for i, entry in enumerate(entries):
        where = f"{path}: entry {i} ({entry.get('id', '?') if isinstance(entry, dict) else entry!r})"
        if not isinstance(entry, dict) or set(entry) != set(FIELDS):
            got = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
            raise ValueError(f"{where}: needs exactly the fields {list(FIELDS)}, got {got}")
        if not all(isinstance(entry[k], str) and entry[k] for k in FIELDS if k != "tests"):
            raise ValueError(f"{where}: id, file, original, replacement and description must be non-empty strings")
        tests = entry["tests"]
        if not isinstance(tests, list) or not tests or not all(isinstance(t, str) for t in tests):
            raise ValueError(f"{where}: tests must be a non-empty list of test files or node ids")
        if entry["original"] == entry["replacement"]:
            raise ValueError(f"{where}: the replacement equals the original")
        if entry["id"] in seen:
            raise ValueError(f"{where}: duplicate id")
        seen.add(entry["id"])
        mutations.append(Mutation(**{**entry, "tests": tuple(tests)}))
    return mutations


def check_against_code(mutations: list[Mutation], root: Path) -> list[str]:
    """Problems that make the list dishonest: snippets not found exactly once, mutated
    files that do not compile, test paths that do not exist."""
    problems = []
    for m in mutations:
        path = root / m.file
        if not path.is_file():
            problems.append(f"{m.id}: {m.file} does not exist")
            continue
        text = path.read_text()
        count = text.count(m.original)
        if count != 1:
            problems.append(f"{m.id}: the snippet occurs {count} times in {m.file} "
                            f"(must be exactly once): {m.original!r}")
            continue
        try:
            compile(text.replace(m.original, m.replacement), m.file, "exec")
        except SyntaxError as err:
            problems.append(f"{m.id}: the mutated {m.file} does not compile: {err}")
        for test in m.tests:
            if not (root / test.split("::")[0]).is_file():
                problems.append(f"{m.id}: test file {test.split('::')[0]} does not exist")
    return problems


def copy_repository(root: Path, dest: Path) -> None:
    """Copy the files git tracks or would track (working-tree contents, uncommitted edits
    included; ignored outputs such as data/ and models/ left out)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=root, check=True, capture_output=True).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        src = root / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _env(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(copy), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a stale .pyc must never stand in for a mutated file
    return env


def run_tests(copy: Path, tests: tuple[str, ...], timeout: float) -> tuple[int | None, str]:
    """(pytest exit status or None on timeout, its output) for ``tests`` in ``copy``."""
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    try:
        done = subprocess.run(cmd, cwd=copy, env=_env(copy), capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as err:
        out = err.stdout.decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
        return None, out
    return done.returncode, done.stdout + done.stderr


def _first_failure(output: str) -> str:
    for line in output.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return line
    return output.strip().splitlines()[-1] if output.strip() else "(no output)"


def check_mutation(m: Mutation, copy: Path, timeout: float) -> Outcome:
    path = copy / m.file
    original = path.read_text()
    path.write_text(original.replace(m.original, m.replacement))
    start = time.monotonic()
    try:
        status, output = run_tests(copy, m.tests, timeout)
    finally:
        path.write_text(original)
    seconds = time.monotonic() - start
    if status is None:
        return Outcome(m, True, seconds, f"timed out after {timeout:.0f} s")
    if status in (4, 5):  # usage error / no tests collected: the entry is wrong, not the code
        raise RuntimeError(f"{m.id}: pytest could not run {list(m.tests)} (exit {status}):\n{output}")
    return Outcome(m, status != 0, seconds, _first_failure(output) if status else "tests passed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mutations", type=Path, default=DEFAULT_LIST,
                        help="the list (default: tests/mutations.yaml)")
    parser.add_argument("--only", nargs="+", metavar="ID", help="run only these mutation ids")
    parser.add_argument("--list", action="store_true", help="print the ids and descriptions and exit")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds per test run; a run past it counts as caught (default 600)")
    args = parser.parse_args(argv)

    try:
        mutations = load_mutations(args.mutations)
    except (OSError, ValueError, yaml.YAMLError) as err:
        print(err, file=sys.stderr)
        return 1
    if args.only:
        unknown = sorted(set(args.only) - {m.id for m in mutations})
        if unknown:
            parser.error(f"unknown mutation ids {unknown}; see --list")
        mutations = [m for m in mutations if m.id in args.only]
    if args.list:
        for m in mutations:
            print(f"{m.id:36s} {m.file:30s} {m.description}")
        return 0
    problems = check_against_code(mutations, REPO)
    if problems:
        print("the mutation list is out of date with the code:", *problems, sep="\n  ", file=sys.stderr)
        return 1

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mutation_check_") as tmp:
        copy = Path(tmp) / "repo"
        copy_repository(REPO, copy)
        where = subprocess.run([sys.executable, "-c", "import advent; print(advent.__file__)"],
                               cwd=copy, env=_env(copy), capture_output=True, text=True).stdout.strip()
        if not where.startswith(str(copy)):
            print(f"`import advent` in the copy resolves to {where!r}, not the copy", file=sys.stderr)
            return 1
        all_tests = tuple(dict.fromkeys(t for m in mutations for t in m.tests))
        status, output = run_tests(copy, all_tests, args.timeout)
        if status != 0:
            print(f"the unmutated tests fail (exit {status}); fix them first:\n{output}", file=sys.stderr)
            return 1
        print(f"{len(mutations)} mutations; unmutated tests pass ({len(all_tests)} test paths)", flush=True)
        outcomes = []
        for m in mutations:
            outcome = check_mutation(m, copy, args.timeout)
            outcomes.append(outcome)
            verdict = "caught  " if outcome.caught else "SURVIVED"
            print(f"{verdict} {outcome.seconds:5.1f}s  {m.id:36s} {outcome.detail}", flush=True)

    survivors = [o.mutation for o in outcomes if not o.caught]
    elapsed = time.monotonic() - started
    print(f"\n{len(outcomes)} mutations: {len(outcomes) - len(survivors)} caught, "
          f"{len(survivors)} survived ({elapsed:.0f} s)")
    for m in survivors:
        print(f"  survived: {m.id} ({m.file}): {m.description}")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
