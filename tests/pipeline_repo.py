"""A fresh git + DVC repository with this checkout's pipeline in it, for the end-to-end
tests: :func:`make_repo` copies the code, dvc.yaml and a parameter file (e.g.
:func:`tests.stage_runs.tiny_params`), and :func:`sh` runs a command there, failing the
test with its output."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.stage_runs import ROOT


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
