"""The code a DVC stage runs: the static import closure of its script inside the repository.

Every ``import`` and ``from ... import`` statement counts, wherever it stands (a lazy
import inside a function runs too, when its branch does); imports of modules outside
the repository (torch, numpy, ...) end the walk. Importing ``a.b.c`` runs
``a/__init__.py`` and ``a/b/__init__.py`` as well, so those are part of the closure.

``tests/test_stage_deps.py`` checks ``dvc.yaml`` against it. By hand, to see what a
stage's code deps must be::

    python tests/stage_closure.py                 # every stage script of dvc.yaml
    python tests/stage_closure.py stages/adapt.py
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _module_files(name: str, root: Path) -> list[Path]:
    """Files that importing dotted module ``name`` executes, inside ``root`` (packages'
    ``__init__.py`` first); [] for a module outside the repository."""
    parts = name.split(".")
    files: list[Path] = []
    for i in range(1, len(parts) + 1):
        base = root.joinpath(*parts[:i])
        if (base / "__init__.py").is_file():
            files.append(base / "__init__.py")
        elif base.with_suffix(".py").is_file() and i == len(parts):
            files.append(base.with_suffix(".py"))
        else:
            return files if i > 1 else []
    return files


def _imports(path: Path, root: Path) -> list[str]:
    """Dotted names of the modules ``path`` imports (``from m import x`` gives ``m`` and,
    in case ``x`` is a submodule, ``m.x``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([p for p in anchor if p] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.append(base)
            names += [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"]
    return [n for n in names if n]


def closure(script: str | Path, root: Path = ROOT) -> set[str]:
    """Repository-relative POSIX paths of every file ``script`` runs, itself included."""
    start = (root / script).resolve()
    seen: set[Path] = set()
    todo = [start]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imports(path, root):
            todo += [f for f in _module_files(name, root) if f not in seen]
    return {p.relative_to(root).as_posix() for p in seen}


def stage_scripts(dvc_yaml: Path = ROOT / "dvc.yaml") -> dict[str, str]:
    """Stage name -> the ``stages/*.py`` script its command runs (``python -m stages.NAME``)."""
    import yaml

    stages = yaml.safe_load(dvc_yaml.read_text())["stages"]
    out = {}
    for name, stage in stages.items():
        words = (stage.get("do") or stage)["cmd"].split()
        module = words[words.index("-m") + 1]
        out[name] = module.replace(".", "/") + ".py"
    return out


if __name__ == "__main__":
    scripts = sys.argv[1:] or sorted(set(stage_scripts().values()))
    for script in scripts:
        print(f"{script}:")
        for path in sorted(closure(script)):
            print(f"  - {path}")
