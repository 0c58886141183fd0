"""A fresh git + DVC repository with this checkout's pipeline in it, for the end-to-end
tests: :func:`make_repo` copies the code, dvc.yaml and a parameter file, and
:func:`sh` runs a command there, failing the test with its output."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent

#: Overrides of params.yaml (section path -> values) small enough for a whole `dvc repro`.
TINY = {
    ("data", "synthetic"): dict(height=32, width=64, source_train=8, target_train=8,
                                target_val=4, target_test=4),
    ("model",): dict(width=4),
    ("train",): dict(batch_size=4, checkpoint_every=1, log_every=1, snapshot_every=1),
    ("pretrain",): dict(iterations=2),
    ("oracle",): dict(iterations=2),
    ("adapt", "minent"): dict(iterations=2),
    ("adapt", "advent"): dict(iterations=2, d_width=4),
    ("self_train",): dict(iterations=2),
    ("pseudo_label",): dict(batch_size=4),
    ("evaluate",): dict(batch_size=4, qualitative_samples=2, source_samples=4),
}


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


def sh(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def make_repo(repo: Path, params: dict) -> tuple[dict[str, str], list[str]]:
    """Set ``repo`` up (code, dvc.yaml, ``params``, one commit); returns the environment
    the stages run in and the dvc command."""
    for name in ("advent", "stages"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "dvc.yaml", repo)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["DVC_NO_ANALYTICS"] = "1"
    # The stages import the copied package, not the one installed from this checkout.
    env["PYTHONPATH"] = str(repo)
    # Stages leave __pycache__ in advent/ as they would on a user's machine; .dvcignore
    # keeps that from looking like a changed dependency.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    dvc = [sys.executable, "-m", "dvc"]
    sh(["git", "init", "-q"], repo, env)
    # CI may have no git identity: give this repository its own.
    sh(["git", "config", "user.email", "test@example.invalid"], repo, env)
    sh(["git", "config", "user.name", "pipeline test"], repo, env)
    sh(dvc + ["init", "-q"], repo, env)
    shutil.copy(ROOT / ".dvcignore", repo)
    sh(["git", "add", "-A"], repo, env)
    sh(["git", "commit", "-qm", "pipeline"], repo, env)
    return env, dvc


def stages_run(log: str) -> set[str]:
    """The stages a `dvc repro` / `dvc exp run` log says it ran."""
    return {line.split("'")[1] for line in log.splitlines() if line.startswith("Running stage")}
