"""Markdown result tables from metric dicts (as written by ``advent.metrics.summarize``).

A metric dict per method looks like ``{"mIoU": 43.8, "mIoU13": .., "pixel_accuracy": ..,
"per_class_iou": {"road": 89.9, ..}}`` (percent, None = undefined). Several seeds of one
method are combined with :func:`aggregate_seeds`; :func:`method_table` accepts either form
and prints aggregated values as ``mean ± std``.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from advent.data.labels import Protocol

#: The default model-selection rule, as this project reports.
SELECTION_LAST = "last checkpoint"
#: The official "best" mode: optimistic, must be labelled as such.
SELECTION_BEST_ON_EVAL = "best checkpoint on the reported evaluation split"

_AGG_KEYS = {"mean", "std", "n"}


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))


def _is_aggregate(x: Any) -> bool:
    return isinstance(x, Mapping) and _AGG_KEYS <= set(x)


def aggregate_seeds(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Combine several runs' metric dicts (one per seed) into one of the same nesting.

    Every numeric leaf becomes ``{"mean": m, "std": s, "n": k}``: mean and sample standard
    deviation (ddof=1; None when k == 1) over the runs where the value is a number (None /
    missing values are skipped, so ``n`` may differ per key). Non-numeric leaves (strings,
    lists) are dropped. Keys that are None in every run map to None.
    """
    if not runs:
        raise ValueError("aggregate_seeds needs at least one run")
    if not all(isinstance(r, Mapping) for r in runs):
        raise TypeError("aggregate_seeds expects a list of metric dicts")

    def combine(values: list[Any]) -> Any:
        present = [v for v in values if v is not None]
        if present and all(isinstance(v, Mapping) for v in present):
            keys: list[str] = []
            for v in present:
                keys.extend(k for k in v if k not in keys)
            out = {}
            for k in keys:
                c = combine([v.get(k) for v in present])
                if c is not _DROP:
                    out[k] = c
            return out
        if not present:
            return None
        if all(_is_number(v) for v in present):
            arr = np.asarray(present, dtype=np.float64)
            std = float(arr.std(ddof=1)) if arr.size > 1 else None
            return {"mean": float(arr.mean()), "std": std, "n": int(arr.size)}
        return _DROP

    return combine(list(runs))


class _Drop:
    pass


_DROP = _Drop()


def _mean(x: Any) -> float | None:
    """A plain or aggregated value -> its (mean) number, or None."""
    if _is_aggregate(x):
        x = x["mean"]
    if x is None or not _is_number(x) or math.isnan(float(x)):
        return None
    return float(x)


def _fmt(x: Any, digits: int) -> str:
    if _is_aggregate(x):
        m = _mean(x)
        if m is None:
            return "–"
        if x.get("std") is None:
            return f"{m:.{digits}f}"
        return f"{m:.{digits}f} ± {float(x['std']):.{digits}f}"
    m = _mean(x)
    return "–" if m is None else f"{m:.{digits}f}"


def _fmt_delta(x: float | None, digits: int) -> str:
    return "–" if x is None else f"{x:+.{digits}f}"


def _lookup(d: Mapping[str, Any], dotted: str) -> Any:
    """``d["a"]["b"]`` for ``"a.b"``; an exact top-level key wins over the dotted path."""
    if dotted in d:
        return d[dotted]
    cur: Any = d
    for part in dotted.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _selection_warning(selection: str) -> str | None:
    s = selection.lower()
    if "best" in s and "held-out" not in s and "held out" not in s:
        return (
            "> **WARNING: checkpoints were selected as the best on the same split that is reported. "
            "These numbers are optimistic and not comparable to last-checkpoint results.**"
        )
    return None


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|")


def method_table(
    metrics: Mapping[str, Mapping[str, Any]],
    protocol: Protocol,
    baseline: str | None = "source_only",
    selection: str = SELECTION_LAST,
    extra_columns: Sequence[str | tuple[str, int]] = (),
    digits: int = 1,
) -> str:
    """Markdown table: one row per method (in the order of ``metrics``).

    Columns: method, per-class IoU (classes that are None for every method dropped), mIoU,
    each ``protocol.subsets`` metric (e.g. mIoU13), Δ of each of those to ``baseline``
    (``baseline=None``: no Δ columns), then ``extra_columns`` (keys of the metric dicts,
    dotted for nested ones, e.g. ``"pixel_accuracy"``; or ``(key, digits)`` pairs such as
    ``("calibration.ece", 3)`` for values that are not percentages).

    Values may be plain numbers (one run) or :func:`aggregate_seeds` entries, shown as
    ``mean ± std``; Δ is the difference of means. A header names the protocol and the
    model-selection rule; a rule mentioning "best" (without "held-out") is flagged loudly as
    selected on the reported split. Write "best on held-out <split>" when it was not.
    """
    if not metrics:
        raise ValueError("method_table: no methods given")
    if baseline is not None and baseline not in metrics:
        raise ValueError(
            f"baseline {baseline!r} has no metrics (methods: {list(metrics)}); pass baseline=None to omit deltas"
        )
    for method, m in metrics.items():
        if "mIoU" not in m:
            raise ValueError(f"metrics of {method!r} have no 'mIoU' (keys: {sorted(m)})")
        # A dict from another protocol would put numbers under the wrong class names.
        per_class = m.get("per_class_iou") or {}
        unknown = set(per_class) - set(protocol.class_names)
        if unknown:
            raise ValueError(
                f"metrics of {method!r} name classes {sorted(unknown)} outside protocol {protocol.name!r}"
            )

    classes = [
        c for c in protocol.class_names
        if any(_mean((m.get("per_class_iou") or {}).get(c)) is not None for m in metrics.values())
    ]
    summary_keys = ["mIoU", *protocol.subsets]
    header = ["Method", *classes, *summary_keys]
    if baseline is not None:
        header += [f"Δ {k}" for k in summary_keys]
    extras = [(c, digits) if isinstance(c, str) else (str(c[0]), int(c[1])) for c in extra_columns]
    header += [c for c, _ in extras]

    rows = []
    for method, m in metrics.items():
        per_class = m.get("per_class_iou") or {}
        row = [_escape(str(method))]
        row += [_fmt(per_class.get(c), digits) for c in classes]
        row += [_fmt(m.get(k), digits) for k in summary_keys]
        if baseline is not None:
            for k in summary_keys:
                a, b = _mean(m.get(k)), _mean(metrics[baseline].get(k))
                row.append(_fmt_delta(None if a is None or b is None else a - b, digits))
        row += [_fmt(_lookup(m, col), d) for col, d in extras]
        rows.append(row)

    subsets = "".join(f"; {name} over {len(idx)} classes" for name, idx in protocol.subsets.items())
    head = (
        f"Protocol: {protocol.name} (mIoU over {protocol.num_classes} classes{subsets}; IoU in %). "
        f"Model selection: {selection}."
    )
    if baseline is not None:
        head += f" Δ relative to {baseline}."
    if any(_is_aggregate(m.get("mIoU")) for m in metrics.values()):
        head += " Values with ± are mean ± sample std over seeds."
    lines = [head, ""]
    warning = _selection_warning(selection)
    if warning:
        lines += [warning, ""]
    lines.append("| " + " | ".join(_escape(h) for h in header) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"
