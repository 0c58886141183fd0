"""Model selection: which of a run's snapshots is reported.

Rules (``evaluate.selection``):

- ``last``: the final model file, as every honest comparison does (the default).
- ``best_val``: the snapshot with the highest mIoU on the held-out target val split.
- ``best_test``: the official ADVENT "best" mode, the snapshot with the highest mIoU on
  the very split that is reported. Optimistic; its label says so wherever it appears
  (:func:`advent.report.tables.method_table` flags it).

Candidates are ``<model dir>/snapshots/iter_<N>.pt`` (written every
``train.snapshot_every`` iterations) plus the final model file itself.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Literal

from advent.snapshot import list_snapshots, snapshot_dir

Rule = Literal["last", "best_val", "best_test"]
#: The split each "best" rule scores snapshots on.
RULE_SPLIT = {"best_val": "val", "best_test": "test"}


def selection_label(rule: Rule) -> str:
    """How a table names the rule (``method_table`` warns on "best" without "held-out")."""
    if rule == "last":
        return "last checkpoint"
    if rule == "best_val":
        return "best snapshot on held-out target val"
    if rule == "best_test":
        return "best snapshot on the reported test split (official ADVENT 'best' mode, optimistic)"
    raise ValueError(f"evaluate.selection must be last, best_val or best_test, got {rule!r}")


def candidates(model_path: str | os.PathLike, rule: Rule) -> list[tuple[int | None, Path]]:
    """(iteration, path) to choose from: the final model alone for ``last``, else its
    snapshots and then the final model (iteration None when its file does not say)."""
    model_path = Path(model_path)
    if rule == "last":
        return [(None, model_path)]
    directory = snapshot_dir(model_path)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"evaluate.selection is {rule} but {directory} does not exist: train with "
            f"train.snapshot_every > 0, or use evaluate.selection: last")
    return [*list_snapshots(directory), (None, model_path)]


def select(model_path: str | os.PathLike, rule: Rule,
           score: Callable[[Path], float]) -> tuple[Path, list[dict]]:
    """The chosen model file for ``rule`` and the scores of every candidate.

    ``score(path)`` returns the mIoU of that model file on ``RULE_SPLIT[rule]``; ties go
    to the later snapshot. Returns (path, [{"path", "iteration", "score"}, ...]).
    """
    options = candidates(model_path, rule)
    if rule == "last":
        return options[0][1], [{"path": str(options[0][1]), "iteration": None, "score": None}]
    scored = [{"path": str(p), "iteration": it, "score": float(score(p))} for it, p in options]
    best = max(range(len(scored)), key=lambda i: (scored[i]["score"], i))
    return Path(scored[best]["path"]), scored
