"""Queued DVC experiments, run and read back: what the robustness and tuning scripts
share. Each experiment is one ``dvc exp run --queue --name NAME -S key=value ...``;
``dvc queue start -j JOBS`` runs them; their git-tracked metrics are read at their
commits."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import yaml

from advent.config import ConfigError, from_dict, load_yaml, parse_yaml
from advent.params import Params
from advent.report.compare import flatten, read_text_at


class DvcError(RuntimeError):
    """A dvc command failed; the message holds the command and what it printed."""


def dvc(repo: str | os.PathLike, *args: str) -> str:
    """Run this interpreter's ``dvc ARGS`` in ``repo``; its stdout."""
    result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise DvcError(f"dvc {' '.join(args)} failed in {repo}:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def parse_settings(pairs: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings, as ``dvc exp run -S`` takes them, as a mapping; ValueError
    naming a string that is not one."""
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"expected key=value, got {pair!r}")
        settings[key] = value
    return settings


def check_settings(params_file: str | os.PathLike, settings: Mapping[str, str],
                   seeds: Sequence[int]) -> None:
    """Refuse settings that would make ``params_file`` invalid, before anything is queued:
    a queued run with a bad value fails only when a worker reaches it. Each seed's params
    are checked as queued (``train.seed``, then ``settings``), values read as YAML as
    ``dvc exp run -S`` reads them. ValueError naming the key."""
    data = load_yaml(params_file)
    for seed in seeds:
        for key, value in {"train.seed": str(seed), **settings}.items():
            *sections, name = key.split(".")
            node = data
            for section in sections:
                node = node.get(section) if isinstance(node, dict) else None
                if not isinstance(node, dict):
                    raise ValueError(f"{key}: no such section in {Path(params_file).name}")
            try:
                node[name] = parse_yaml(value) if value.strip() else None
            except yaml.YAMLError:
                raise ValueError(f"{key}: {value!r} is not a YAML value") from None
        try:
            from_dict(Params, data)
        except ConfigError as err:
            raise ValueError(str(err)) from None


def queue_experiment(repo: str | os.PathLike, name: str, settings: Mapping[str, object],
                     targets: Sequence[str] = ()) -> None:
    """Queue one experiment: the pipeline (or only ``targets`` and what they need) with
    ``settings`` (``{"train.seed": 1, ...}``) applied to params.yaml."""
    args = ["exp", "run", "--queue", "--name", name]
    for key, value in settings.items():
        args += ["-S", f"{key}={value}"]
    dvc(repo, *args, *targets)


def run_queue(repo: str | os.PathLike, jobs: int, poll_seconds: float = 30.0) -> float:
    """Start ``jobs`` queue workers (0: rely on those already running) and wait until
    nothing is queued or running; the wall time in seconds."""
    start = time.time()
    if jobs:
        dvc(repo, "queue", "start", "-j", str(jobs))
    while True:
        time.sleep(poll_seconds)
        status = dvc(repo, "queue", "status")
        if not any(f" {s}" in status for s in ("Running", "Queued")):
            return time.time() - start


# DVC keeps a finished experiment as the commit of refs/exps/<baseline, 2 + 38 hex>/<name>;
# one that failed has no ref.
_EXPERIMENT_REF = re.compile(r"^refs/exps/[0-9a-f]{2}/[0-9a-f]{38}/(?P<name>[^/]+)$")


def experiment_rows(repo: str | os.PathLike, names: Sequence[str]
                    ) -> tuple[pd.DataFrame, list[str]]:
    """For those of ``names`` that finished, one row each: ``name``, ``rev`` (the
    experiment's commit) and params.yaml's values at that commit as dotted columns
    (``train.seed``, ...); and the names that failed or are missing (sorted).

    Read from git refs, whatever commit each experiment was queued on: `dvc exp show
    --all-commits` gives the same but reads every commit of the history (minutes)."""
    listing = subprocess.run(["git", "for-each-ref", "--format=%(objectname) %(refname)", "refs/exps"],
                             cwd=repo, capture_output=True, text=True)
    if listing.returncode != 0:
        raise DvcError(f"git for-each-ref refs/exps failed in {repo}: {listing.stderr.strip()}")
    revs: dict[str, list[str]] = {}
    for line in listing.stdout.splitlines():
        rev, ref = line.split(" ", 1)
        if (match := _EXPERIMENT_REF.match(ref)) and match["name"] in names:
            revs.setdefault(match["name"], []).append(rev)
    if twice := sorted(n for n, found in revs.items() if len(found) > 1):
        raise DvcError(f"experiment names used more than once in {repo}: {twice}")
    rows = []
    for name in (n for n in names if n in revs):
        try:
            params = parse_yaml(read_text_at(repo, revs[name][0], "params.yaml"))
        except RuntimeError as err:
            raise DvcError(str(err)) from None
        rows.append({"name": name, "rev": revs[name][0], **flatten(params)})
    return pd.DataFrame(rows, columns=None if rows else ["name", "rev"]), sorted(set(names) - set(revs))


def finished_experiments(repo: str | os.PathLike, names: Sequence[str]) -> pd.DataFrame:
    """The rows of :func:`experiment_rows` for ``names``; DvcError naming any that
    failed or are missing (``dvc queue logs NAME`` tells why)."""
    rows, failed = experiment_rows(repo, names)
    if failed:
        raise DvcError(f"experiments failed or missing in {Path(repo)}: {failed} "
                       "(see `dvc queue logs NAME`)")
    return rows


def output_at(repo: str | os.PathLike, rev: str, path: str, dest: str | os.PathLike) -> Path:
    """Copy the DVC-cached output ``path`` (repository-relative, e.g.
    ``models/advent/model.pt``) as it was at ``rev`` (an experiment's commit) to ``dest``,
    from the repository's DVC cache; ``dest``. DvcError naming both when it is not there."""
    import dvc.api  # only here: the other helpers drive dvc as a command

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with dvc.api.open(path, repo=os.fspath(repo), rev=rev, mode="rb") as src, open(dest, "wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
    except Exception as err:  # dvc raises several kinds here; all mean "not available"
        dest.unlink(missing_ok=True)
        raise DvcError(f"no cached {path} at rev {rev} in {repo}: {err}") from None
    return dest


def outputs_under(repo: str | os.PathLike, rev: str, folder: str) -> list[str]:
    """The file names in the DVC-tracked ``folder`` (e.g. ``models/source_only/snapshots``)
    as it was at ``rev``, sorted; DvcError when there is no such folder."""
    from dvc.api import DVCFileSystem  # only here, as in output_at

    try:
        entries = DVCFileSystem(os.fspath(repo), rev=rev).ls(folder, detail=False)
    except Exception as err:  # dvc raises several kinds here; all mean "not available"
        raise DvcError(f"no tracked folder {folder} at rev {rev} in {repo}: {err}") from None
    return sorted(Path(e).name for e in entries)
