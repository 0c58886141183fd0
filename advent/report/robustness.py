"""Claims that hold on any machine: many runs (seeds x float settings), paired gains.

One run of the benchmark moves by a few mIoU when the float arithmetic changes (another
CPU, another thread count), so a claim such as "AdvEnt beats source-only" rests on a
table of runs, each a whole pipeline: its methods' mIoU on target test and each
adapted method's *paired* gain, the difference to source-only within the same run. The
float setting and the CPU of every run are part of its record.

:func:`summarize_runs` turns the runs into per-method statistics, :func:`check_targets`
compares them with the targets the project promises (ratios to source-only taken from
the paper, :data:`PAPER_RATIOS`), and :func:`robustness_markdown` writes the report.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

#: Ratio of each method's mean mIoU to source-only's that the paper reports (GTA5 ->
#: Cityscapes, ResNet-101): MinEnt 42.3, AdvEnt 43.8, ensemble 45.5, oracle 65.1 over
#: source-only 36.6; IntraDA from intra-domain adaptation alone, 45.1 over AdvEnt's 43.8.
PAPER_RATIOS = {"minent": 42.3 / 36.6, "advent": 43.8 / 36.6, "ensemble": 45.5 / 36.6,
                "oracle": 65.1 / 36.6}
INTRADA_OVER_ADVENT = 45.1 / 43.8
#: Rows that are references, not adapted methods: no target applies to them. AdaBN's gain
#: over source-only is the part of every adapted method's gain that BN statistics give.
REFERENCES = ("oracle", "adabn")


@dataclass(frozen=True)
class Target:
    """One promise, checked on the run table: ``name`` says it in words."""

    name: str
    measured: float | None
    required: str
    holds: bool


def _stats(values: Sequence[float]) -> dict[str, float | None]:
    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if a.size > 1 else None,
            "min": float(a.min()), "max": float(a.max()), "n": int(a.size)}


def summarize_runs(runs: Sequence[Mapping[str, Any]], methods: Sequence[str],
                   baseline: str | None = "source_only") -> dict[str, dict[str, Any]]:
    """Per method: statistics (mean, sample std, min, max, n) of its mIoU over ``runs``
    and of its paired gain over ``baseline`` (same run); the baseline has no gain.

    Each run is ``{"mIoU": {method: value, ...}, ...}``; every run must have every method.
    """
    if not runs:
        raise ValueError("no runs to summarise")
    for i, run in enumerate(runs):
        missing = [m for m in methods if m not in run["mIoU"]]
        if missing:
            raise ValueError(f"run {i} ({run.get('experiment', '?')}) has no mIoU for {missing}")
    out: dict[str, dict[str, Any]] = {}
    for m in methods:
        values = [run["mIoU"][m] for run in runs]
        entry: dict[str, Any] = {"mIoU": _stats(values)}
        if baseline is not None and m != baseline:
            entry["gain"] = _stats([run["mIoU"][m] - run["mIoU"][baseline] for run in runs])
        out[m] = entry
    return out


def spread_sources(runs: Sequence[Mapping[str, Any]], methods: Sequence[str],
                   baseline: str = "source_only") -> dict[str, dict[str, float | None]]:
    """Where a method's spread comes from, per method (mIoU and paired gain alike):

    - ``setting``: the mean, over seeds run in more than one float setting, of the
      largest minus the smallest value among that seed's settings (what another machine
      alone moves);
    - ``seed``: the sample std over seeds within one float setting, averaged over the
      settings that have at least two seeds (what another seed alone moves).

    None where the table has no such pair.
    """
    def by(key_of):
        groups: dict[Any, list[Mapping[str, Any]]] = {}
        for run in runs:
            groups.setdefault(key_of(run), []).append(run)
        return groups

    per_seed = [g for g in by(lambda r: r["seed"]).values() if len(g) > 1]
    per_setting = [g for g in by(lambda r: (r["threads"], r["cpu_capability"])).values() if len(g) > 1]
    out: dict[str, dict[str, float | None]] = {}
    for m in methods:
        value = lambda r: r["mIoU"][m]  # noqa: E731
        gain = lambda r: r["mIoU"][m] - r["mIoU"][baseline]  # noqa: E731
        entry: dict[str, float | None] = {}
        for name, f in (("mIoU", value), ("gain", gain)):
            if name == "gain" and m == baseline:
                continue
            entry[f"{name}_setting"] = (float(np.mean([max(map(f, g)) - min(map(f, g)) for g in per_seed]))
                                        if per_seed else None)
            entry[f"{name}_seed"] = (float(np.mean([np.std([f(r) for r in g], ddof=1) for g in per_setting]))
                                     if per_setting else None)
        out[m] = entry
    return out


def check_targets(runs: Sequence[Mapping[str, Any]], summary: Mapping[str, Mapping[str, Any]],
                  max_gain_std: float = 1.0) -> list[Target]:
    """The project's promises on the run table (methods absent from ``summary`` are skipped):

    - every adapted method's paired gain over source-only is > 0 in every run, with std
      at most ``max_gain_std``;
    - mean ratios to source-only at least the paper's (:data:`PAPER_RATIOS`); the
      ensemble at least both of its members; self-training at least AdvEnt + 1.0;
    - IntraDA at least :data:`INTRADA_OVER_ADVENT` x AdvEnt, and above AdvEnt in every run.
    """
    def mean(m: str) -> float:
        return summary[m]["mIoU"]["mean"]

    base = mean("source_only")
    targets: list[Target] = []
    for m, entry in summary.items():
        gain = entry.get("gain")
        if gain is None or m in REFERENCES:
            continue
        targets.append(Target(f"{m}: paired gain over source only > 0 in every run",
                              gain["min"], "> 0", gain["min"] > 0))
        std = gain["std"]
        targets.append(Target(f"{m}: std of the paired gain", std, f"<= {max_gain_std}",
                              std is not None and std <= max_gain_std))
    for m, ratio in PAPER_RATIOS.items():
        if m in summary:
            measured = mean(m) / base
            targets.append(Target(f"{m}: mean / source only", measured, f">= {ratio:.3f}",
                                  measured >= ratio))
    if {"ensemble", "minent", "advent"} <= set(summary):
        best_member = max(mean("minent"), mean("advent"))
        targets.append(Target("ensemble: mean minus its best member", mean("ensemble") - best_member,
                              ">= 0", mean("ensemble") >= best_member))
    if {"self_train", "advent"} <= set(summary):
        diff = mean("self_train") - mean("advent")
        targets.append(Target("self_train: mean minus AdvEnt's", diff, ">= 1.0", diff >= 1.0))
    if {"intrada", "advent"} <= set(summary):
        ratio = mean("intrada") / mean("advent")
        targets.append(Target("intrada: mean / AdvEnt", ratio, f">= {INTRADA_OVER_ADVENT:.3f}",
                              ratio >= INTRADA_OVER_ADVENT))
        worst = min(run["mIoU"]["intrada"] - run["mIoU"]["advent"] for run in runs)
        targets.append(Target("intrada: paired gain over AdvEnt > 0 in every run", worst, "> 0",
                              worst > 0))
    return targets


def fmt(x: float | None, digits: int = 1, sign: bool = False) -> str:
    """``x`` with ``digits`` decimals (a sign when ``sign``); "–" for none."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def robustness_markdown(runs: Sequence[Mapping[str, Any]], summary: Mapping[str, Mapping[str, Any]],
                        targets: Sequence[Target], labels: Mapping[str, str], command: str,
                        selection: str, split: str = "test", whole_pipeline: bool = True) -> str:
    """The report: the per-method band and paired gains, the targets, and every run, on
    target ``split``. ``whole_pipeline`` False: the runs ran only the stages the
    summary's methods need (restricted tuning experiments), and the header says so."""
    settings = sorted({(r["threads"], r["cpu_capability"]) for r in runs})
    cpus = sorted({r["cpu"] for r in runs})
    seeds = sorted({r["seed"] for r in runs})
    lines = [
        "# Robustness: seeds x float settings", "",
        f"Written by `{command}`. {len(runs)} runs "
        f"{'of the whole pipeline' if whole_pipeline else 'of the stages its methods need'}: seeds {seeds} x "
        f"float settings {', '.join(f'{t} thread(s) / {c} kernels' for t, c in settings)}, on "
        f"{', '.join(cpus)}. Target **{split}** mIoU (%), model selection: {selection}. A paired "
        "gain is a method's mIoU minus source-only's in the same run.", "",
        "| method | mean ± std | min – max (one run's band) | paired gain: mean ± std | "
        "gain min – max |",
        "|---|---:|---:|---:|---:|",
    ]
    for m, entry in summary.items():
        s, g = entry["mIoU"], entry.get("gain")
        gain = (f"{fmt(g['mean'], sign=True)} ± {fmt(g['std'])}", f"{fmt(g['min'], sign=True)} – "
                f"{fmt(g['max'], sign=True)}") if g else ("", "")
        lines.append(f"| {labels.get(m, m)} | {fmt(s['mean'])} ± {fmt(s['std'])} | "
                     f"{fmt(s['min'])} – {fmt(s['max'])} | {gain[0]} | {gain[1]} |")
    lines += ["", "## Targets", "", "| target | measured | required | holds |", "|---|---:|---:|---|"]
    lines += [f"| {t.name} | {fmt(t.measured, 3)} | {t.required} | {'yes' if t.holds else '**no**'} |"
              for t in targets]
    methods = list(summary)
    if "adabn" in methods:
        over = summarize_runs(runs, methods, baseline="adabn")
        lines += ["", "## Paired gains over AdaBN", "",
                  "AdaBN is source-only with BN statistics re-estimated on target train: "
                  "what BN statistics alone give. A method's gain over it is the part of its "
                  "gain that is more than that.", "",
                  "| method | gain over AdaBN: mean ± std | min – max |", "|---|---:|---:|"]
        for m in methods:
            g = over[m].get("gain")
            if g and m not in ("source_only", "oracle"):
                lines.append(f"| {labels.get(m, m)} | {fmt(g['mean'], sign=True)} ± {fmt(g['std'])} | "
                             f"{fmt(g['min'], sign=True)} – {fmt(g['max'], sign=True)} |")
    spread = spread_sources(runs, methods)
    lines += ["", "## Where the spread comes from", "",
              "Another float setting alone: the mean, over seeds, of the gap between one seed's "
              "runs in the different settings. Another seed alone: the std over seeds within "
              "one setting (mean over settings).", "",
              "| method | mIoU: float setting | mIoU: seed (std) | gain: float setting | "
              "gain: seed (std) |", "|---|---:|---:|---:|---:|"]
    for m in methods:
        e = spread[m]
        lines.append(f"| {labels.get(m, m)} | {fmt(e['mIoU_setting'])} | {fmt(e['mIoU_seed'])} | "
                     f"{fmt(e.get('gain_setting'))} | {fmt(e.get('gain_seed'))} |")
    lines += ["", "## Every run", "",
              "| seed | threads | kernels | " + " | ".join(labels.get(m, m) for m in methods) + " |",
              "|---:|---:|---|" + "---:|" * len(methods)]
    for r in sorted(runs, key=lambda r: (r["seed"], r["threads"], r["cpu_capability"])):
        lines.append(f"| {r['seed']} | {r['threads']} | {r['cpu_capability']} | "
                     + " | ".join(fmt(r["mIoU"][m], 2) for m in methods) + " |")
    return "\n".join(lines) + "\n"
