"""Every dvc.yaml stage declares exactly the code it runs.

A file a stage runs but does not declare would leave its outputs stale after an edit
while ``dvc status`` says "up to date"; a declared file it never runs would rerun it for
nothing. The code a stage runs is the static import closure of its script
(``tests/stage_closure.py``); here it is compared with the stage's code deps (those
under ``advent/`` and ``stages/``), both ways.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.stage_closure import ROOT, closure, stage_scripts

CODE_ROOTS = ("advent/", "stages/")


def _code_deps(stage: dict) -> list[str]:
    body = stage.get("do") or stage
    return [d for d in body.get("deps", []) if isinstance(d, str) and d.startswith(CODE_ROOTS)]


def _covered(path: str, deps: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


def _files_under(dep: str) -> set[str]:
    target = ROOT / dep
    if target.is_file():
        return {dep}
    return {p.relative_to(ROOT).as_posix() for p in target.rglob("*.py") if "__pycache__" not in p.parts}


STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
SCRIPTS = stage_scripts()


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_declares_every_file_it_runs(name):
    deps = _code_deps(STAGES[name])
    missing = sorted(p for p in closure(SCRIPTS[name]) if not _covered(p, deps))
    assert not missing, (f"dvc.yaml stage {name!r} runs {missing} but does not list them in its "
                         f"deps (see `python tests/stage_closure.py {SCRIPTS[name]}`)")


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_declares_no_code_it_never_runs(name):
    runs = closure(SCRIPTS[name])
    extra = sorted(f for d in _code_deps(STAGES[name]) for f in _files_under(d) if f not in runs)
    assert not extra, f"dvc.yaml stage {name!r} lists {extra} among its deps but never imports them"


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_code_dep_exists(name):
    gone = [d for d in _code_deps(STAGES[name]) if not (ROOT / d).exists()]
    assert not gone, f"dvc.yaml stage {name!r} lists deps that do not exist: {gone}"


def test_closure_follows_lazy_and_package_imports(tmp_path: Path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "sub" / "__init__.py").write_text("from . import leaf\n")
    (tmp_path / "pkg" / "sub" / "leaf.py").write_text("import numpy\n")
    (tmp_path / "pkg" / "lazy.py").write_text("")
    (tmp_path / "main.py").write_text(
        "import os\nfrom pkg.sub import leaf\n\ndef f():\n    from pkg import lazy\n")
    assert closure("main.py", tmp_path) == {
        "main.py", "pkg/__init__.py", "pkg/sub/__init__.py", "pkg/sub/leaf.py", "pkg/lazy.py"}


def test_a_stage_runs_the_library_of_its_own_checkout(tmp_path: Path):
    """`dvc exp run --queue` runs stages in a copy of the repository; `python -m stages.X`
    from that copy must import the copy's `advent`, not the installed (editable) one of the
    checkout it was queued from, or an experiment would run code other than its commit's."""
    import shutil
    import subprocess
    import sys

    for folder in ("advent", "stages"):
        shutil.copytree(ROOT / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "advent" / "__init__.py").write_text('raise SystemExit("the copy\'s advent")\n')
    words = (STAGES["pretrain"].get("do") or STAGES["pretrain"])["cmd"].split()
    assert words[:2] == ["python", "-m"], "dvc.yaml commands run stages as modules"
    proc = subprocess.run([sys.executable, *words[1:3], "--help"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert "the copy's advent" in proc.stderr, proc.stdout + proc.stderr
