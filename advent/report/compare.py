"""Cross-experiment comparison from ``dvc exp show --json`` (DVC 3.x format).

The JSON is a list of *baseline* entries (the workspace first, then commits)::

    [{"rev": "workspace" | <sha>, "name": <branch/tag or null>, "error": null | {...},
      "data": {"rev", "timestamp",
               "params":  {<params file>:  {"data": {nested params}}},
               "metrics": {<metrics file>: {"data": {nested metrics}} | {"error": {"type", "msg"}}},
               "deps", "outs", "meta"},
      "experiments": null | [{"name": <exp name>, "executor": null | {"state": "queued" |
                                "running" | "success" | "failed", ...},
                              "revs": [<entry of the same shape as a baseline>]}]}]

A queued experiment has empty metrics; a failed one has ``"error": {"msg": "Experiment run
failed"}`` and metric-file errors. DVC drops null metric values (e.g. a per-class IoU of None)
from the output, so those columns are simply absent / NaN.

:func:`experiments_frame` turns this into one DataFrame row per experiment (plus baseline
commits): columns ``name, rev, baseline, kind, state, timestamp, error``, then params
flattened with dotted keys (``adapt.advent.lambda_adv_main`` for ``params.yaml``;
``<file>:<key>`` for other params files), then metrics as ``<file>:<dotted key>``
(``metrics/advent/test.json:advent.test.mIoU``; :func:`resolve_column` also takes the key
alone when one file has it, as ``dvc exp show`` names its columns).

Only the small headline metrics are in that JSON; :func:`read_json_at` reads any other
git-tracked output of an experiment (e.g. ``metrics/<method>/details.json``) at its rev.
"""
from __future__ import annotations

import difflib
import json
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from advent.io import read_json

from advent.report.plots import plot_errorbars

#: Params in this file get bare dotted names (as `dvc exp run -S` takes them).
DEFAULT_PARAMS_FILE = "params.yaml"
META_COLUMNS = ("name", "rev", "baseline", "kind", "state", "timestamp", "error")


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"seed": 0}} -> {"train.seed": 0}; a list becomes its JSON text."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping):
            out.update(flatten(v, key))
        elif isinstance(v, list):
            out[key] = json.dumps(v)  # hashable, readable in a CSV
        else:
            out[key] = v
    return out


def _entry_row(entry: Mapping[str, Any], kind: str, baseline: str, group: Mapping[str, Any] | None) -> dict[str, Any]:
    data = entry.get("data") or {}
    rev = entry.get("rev") or data.get("rev")
    name = entry.get("name") or (group or {}).get("name")
    if not name:
        name = "workspace" if rev == "workspace" else str(rev)[:7]
    errors: list[str] = []
    if entry.get("error"):
        err = entry["error"]
        errors.append(str(err.get("msg") or err.get("type") or err) if isinstance(err, Mapping) else str(err))
    executor = (group or {}).get("executor")
    if executor and executor.get("state"):
        state = str(executor["state"])
    else:
        state = "failed" if entry.get("error") else "success"
    row: dict[str, Any] = {
        "name": name, "rev": rev, "baseline": baseline, "kind": kind, "state": state,
        "timestamp": data.get("timestamp"),
    }
    params: dict[str, Any] = {}
    for file, content in (data.get("params") or {}).items():
        if content.get("error"):
            errors.append(f"{file}: {content['error'].get('type', '')} {content['error'].get('msg', '')}".strip())
        flat = flatten(content.get("data") or {})
        prefix = "" if file == DEFAULT_PARAMS_FILE else f"{file}:"
        params.update({prefix + k: v for k, v in flat.items()})
    metrics: dict[str, Any] = {}
    for file, content in (data.get("metrics") or {}).items():
        if content.get("error") and state not in ("queued", "running"):
            errors.append(f"{file}: {content['error'].get('type', '')} {content['error'].get('msg', '')}".strip())
        metrics.update({f"{file}:{k}": v for k, v in flatten(content.get("data") or {}).items()})
    row["error"] = "; ".join(errors) if errors else None
    return {"row": row, "params": params, "metrics": metrics}


def check_exp_show(exp_show: Any) -> None:
    """ValueError unless ``exp_show`` has the shape ``dvc exp show --json`` prints (DVC 3.x):
    a list of commit records, each with a ``rev``."""
    if not isinstance(exp_show, list):
        raise ValueError(
            "expected the list that `dvc exp show --json` prints (DVC 3.x); got "
            f"{type(exp_show).__name__}. Older DVC (2.x) printed a dict keyed by revision: upgrade DVC."
        )
    for base in exp_show:
        if not isinstance(base, Mapping) or "rev" not in base:
            raise ValueError(f"unexpected `dvc exp show --json` entry (no 'rev'): {str(base)[:200]}")


def experiments_frame(
    exp_show: Sequence[Mapping[str, Any]],
    include_workspace: bool = False,
    drop_duplicates: bool = True,
) -> pd.DataFrame:
    """Parse ``dvc exp show --json`` output (already ``json.load``-ed) into a DataFrame.

    One row per baseline commit and per experiment (for an experiment with several revs,
    its tip ``revs[0]``). ``kind`` is ``"workspace"``, ``"baseline"`` or ``"experiment"``;
    ``state`` is ``"success"``, ``"queued"``, ``"running"`` or ``"failed"``. The workspace
    row is left out by default: right after ``dvc exp run`` it repeats the last experiment,
    which would count one run twice in a mean over seeds. For the same reason
    ``drop_duplicates`` keeps only one of rows with identical params *and* metrics (e.g. an
    experiment whose results were then committed as a baseline): the experiment row.
    ``df.attrs["param_columns"]`` / ``df.attrs["metric_columns"]`` list the two kinds.
    """
    check_exp_show(exp_show)
    parsed: list[dict[str, Any]] = []
    for base in exp_show:
        base_rev = base["rev"]
        if base_rev == "workspace":
            if include_workspace:
                parsed.append(_entry_row(base, "workspace", "workspace", None))
        else:
            parsed.append(_entry_row(base, "baseline", base_rev, None))
        for group in base.get("experiments") or []:
            revs = group.get("revs") or []
            if revs:
                parsed.append(_entry_row(revs[0], "experiment", base_rev, group))
    param_cols: list[str] = []
    metric_cols: list[str] = []
    for p in parsed:
        param_cols.extend(k for k in p["params"] if k not in param_cols)
        metric_cols.extend(k for k in p["metrics"] if k not in metric_cols)
    # Params and metrics share the frame; a clash would be ambiguous (metrics always hold a ':').
    records = [{**p["row"], **p["params"], **p["metrics"]} for p in parsed]
    df = pd.DataFrame.from_records(records, columns=[*META_COLUMNS, *param_cols, *metric_cols])
    if drop_duplicates and metric_cols and len(df):
        # Only rows that have metrics can be duplicates of a run; compare as text (NaN-safe).
        has_metrics = df[metric_cols].notna().any(axis=1)
        key = pd.Series([repr(tuple(r)) for r in df[param_cols + metric_cols].itertuples(index=False)])
        # Keep the most specific row of a duplicate set: experiment over baseline over workspace.
        rank = df["kind"].map({"experiment": 0, "baseline": 1, "workspace": 2})
        order = np.argsort(rank.to_numpy(), kind="stable")
        dup = np.zeros(len(df), dtype=bool)
        dup[order] = key.iloc[order].duplicated().to_numpy()
        df = df[~(has_metrics.to_numpy() & dup)].reset_index(drop=True)
    df.attrs["param_columns"] = param_cols
    df.attrs["metric_columns"] = metric_cols
    return df


def run_exp_show(repo: str | os.PathLike = ".", all_commits: bool = False) -> list[dict[str, Any]]:
    """Run ``dvc exp show --json`` (with this interpreter's DVC) in ``repo``; the parsed JSON."""
    cmd = [sys.executable, "-m", "dvc", "exp", "show", "--json"]
    if all_commits:
        cmd.append("--all-commits")
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd[2:])}` failed in {repo} (exit {proc.returncode}): {proc.stderr.strip()}")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as err:
        raise RuntimeError(f"`dvc exp show --json` printed no valid JSON ({err}): {proc.stdout[:300]!r}") from None


def read_text_at(repo: str | os.PathLike, rev: str, path: str) -> str:
    """The git-tracked file ``path`` (repository-relative) as committed at ``rev``.
    RuntimeError naming both when git has no such file."""
    proc = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=repo, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"no {path} at rev {rev} in {repo}: {proc.stderr.strip()}")
    return proc.stdout


def read_json_at(repo: str | os.PathLike, rev: str, path: str) -> Any:
    """The JSON file ``path`` (git-tracked: a ``cache: false`` output) as committed at
    ``rev``, e.g. an experiment's ``rev`` in the frame of :func:`experiments_frame`.
    RuntimeError naming both when git has no such file."""
    text = read_text_at(repo, rev, path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} at rev {rev}: not valid JSON ({err})") from None


def load_exp_show(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read a saved ``dvc exp show --json`` dump; a file of another shape is refused by name."""
    exp_show = read_json(path)
    try:
        check_exp_show(exp_show)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    return exp_show


def resolve_column(df: pd.DataFrame, name: str) -> str:
    """The frame's column for ``name``: exact, or ``params.yaml:key`` -> ``key``, or a metric
    key without its file when exactly one metrics file has it. ValueError with suggestions otherwise."""
    if name in df.columns:
        return name
    if name.startswith(DEFAULT_PARAMS_FILE + ":") and name[len(DEFAULT_PARAMS_FILE) + 1:] in df.columns:
        return name[len(DEFAULT_PARAMS_FILE) + 1:]
    suffix = [c for c in df.columns if isinstance(c, str) and c.endswith(":" + name)]
    if len(suffix) == 1:
        return suffix[0]
    if len(suffix) > 1:
        raise ValueError(f"{name!r} is ambiguous: {suffix}")
    candidates = [str(c) for c in df.columns if c not in META_COLUMNS]
    close = difflib.get_close_matches(name, candidates, n=5, cutoff=0.4)
    hint = f"close: {close}" if close else f"columns: {candidates[:15] or 'none (no params or metrics found)'}"
    raise ValueError(f"no column {name!r} in the experiments table ({len(df)} rows); {hint}")


def _is_seed(col: str) -> bool:
    return col.rsplit(":", 1)[-1].rsplit(".", 1)[-1].lower().endswith("seed")


def aggregate_metric(
    df: pd.DataFrame,
    metric: str,
    param: str,
    group_by: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """Mean ± std of ``metric`` over the runs that share ``param`` (and ``group_by``) values.

    Only finished runs count: rows whose ``state`` is not ``"success"`` (a running
    experiment may show live, partial metrics) and rows without a value of the metric or the
    param are dropped. The runs behind one point are treated as seeds: if they also differ in a param
    that is not named ``*seed``, a warning names it (the mean would mix configurations).
    Returns columns ``[*group_by, param, "mean", "std", "n", "experiments"]``; std is the
    sample std (NaN for a single run).
    """
    metric_col = resolve_column(df, metric)
    param_col = resolve_column(df, param)
    groups = [] if group_by is None else [group_by] if isinstance(group_by, str) else list(group_by)
    group_cols = [resolve_column(df, g) for g in groups]
    keys = [*group_cols, param_col]
    sub = df
    if "state" in sub.columns:
        unfinished = sub[(sub["state"] != "success") & sub[metric_col].notna()]
        if len(unfinished):
            warnings.warn(f"ignoring {len(unfinished)} unfinished run(s): {list(unfinished['name'])}", stacklevel=2)
        sub = sub[sub["state"] == "success"]
    sub = sub.dropna(subset=[metric_col, param_col])
    if sub.empty:
        raise ValueError(f"no experiment has both {metric_col!r} and {param_col!r}")
    sub = sub.copy()
    sub[metric_col] = pd.to_numeric(sub[metric_col], errors="raise")
    for g in group_cols:
        sub[g] = sub[g].astype(object).where(sub[g].notna(), "none")

    param_cols = df.attrs.get("param_columns") or [c for c in df.columns if c not in META_COLUMNS and ":" not in str(c)]
    others = [c for c in param_cols if c not in keys and not _is_seed(c)]
    rows = []
    for key, part in sub.groupby(keys, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        mixed = [c for c in others if c in part and len({repr(v) for v in part[c]}) > 1]
        if mixed:
            warnings.warn(
                f"runs at {dict(zip(keys, key))} also differ in {mixed}: their mean mixes configurations",
                stacklevel=2,
            )
        vals = part[metric_col].to_numpy(dtype=float)
        rows.append({
            **dict(zip(keys, key)),
            "mean": float(vals.mean()),
            "std": float(vals.std(ddof=1)) if vals.size > 1 else math.nan,
            "n": int(vals.size),
            "experiments": ";".join(map(str, part["name"])),
        })
    return pd.DataFrame(rows, columns=[*keys, "mean", "std", "n", "experiments"])


def plot_metric_vs_param(
    df: pd.DataFrame,
    metric: str,
    param: str,
    group_by: str | Sequence[str] | None = None,
    out_png: str | os.PathLike = "reports/compare.png",
    logx: bool | None = None,
) -> pd.DataFrame:
    """Plot ``metric`` against ``param`` (one line per ``group_by`` value), seeds as mean ±
    std error bars; writes ``out_png`` and returns the aggregated table it drew
    (see :func:`aggregate_metric`)."""
    agg = aggregate_metric(df, metric, param, group_by)
    param_col = resolve_column(df, param)
    groups = [] if group_by is None else [group_by] if isinstance(group_by, str) else list(group_by)
    group_cols = [resolve_column(df, g) for g in groups]
    series: dict[str, list[tuple[Any, float, float]]] = {}
    for _, r in agg.iterrows():
        label = ", ".join(f"{g}={r[g]}" for g in group_cols)
        x = r[param_col]
        if isinstance(x, (np.integer, np.floating)):
            x = x.item()
        series.setdefault(label, []).append((x, r["mean"], r["std"]))
    n_runs = int(agg["n"].sum())
    plot_errorbars(
        series, out_png, xlabel=param_col, ylabel=resolve_column(df, metric), logx=logx,
        title=f"mean ± std over seeds ({n_runs} runs, {len(agg)} points)",
    )
    return agg


def compare(
    exp_show: list[Mapping[str, Any]],
    metric: str,
    param: str,
    out_png: str | os.PathLike,
    group_by: str | Sequence[str] | None = None,
    include_workspace: bool = False,
    logx: bool | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """exp-show JSON -> (experiments frame, aggregated points); writes the PNG."""
    df = experiments_frame(exp_show, include_workspace=include_workspace)
    if df.empty:
        raise ValueError("`dvc exp show` lists no experiments or commits")
    agg = plot_metric_vs_param(df, metric, param, group_by, out_png, logx=logx)
    return df, agg
