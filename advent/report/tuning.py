"""Tuning evidence: variants of the parameters, each run over a few seeds, compared on
target **val** (the reported test split is never used to choose).

A record is one run: ``{"variant": label, "seed": s, "mIoU": {method: val mIoU}}``.
:func:`summarize_variants` gives each variant's per-method mean and paired gain over
source-only (when the run evaluated it); :func:`tuning_markdown` writes the table.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from advent.report.robustness import fmt, summarize_runs


def summarize_variants(records: Sequence[Mapping[str, Any]], methods: Sequence[str]
                       ) -> dict[str, dict[str, dict[str, Any]]]:
    """Per variant (in first-seen order), :func:`summarize_runs` over its seeds."""
    variants: dict[str, list[Mapping[str, Any]]] = {}
    for r in records:
        variants.setdefault(r["variant"], []).append(r)
    baseline = "source_only" if "source_only" in methods else None
    return {v: summarize_runs(runs, methods, baseline=baseline) for v, runs in variants.items()}


def tuning_markdown(title: str, command: str, variants: Mapping[str, Mapping[str, str]],
                    records: Sequence[Mapping[str, Any]], methods: Sequence[str],
                    note: str = "") -> str:
    """One table per method: each variant's val mIoU per seed, mean ± std, and its mean
    paired gain over source-only in the same run; ``note`` (how the runs were made, if
    not by ``command`` alone) follows the first paragraph."""
    summary = summarize_variants(records, methods)
    seeds = sorted({r["seed"] for r in records})
    lines = [f"# Tuning: {title}", "", f"Written by `{command}`. Target **val** mIoU (%), "
             f"last model file; seeds {seeds}. A paired gain is the method minus source-only "
             "in the same run.", *(["", note] if note else []), "",
             "| variant | settings |", "|---|---|"]
    lines += [f"| {v} | {', '.join(f'`{k}={x}`' for k, x in s.items()) or '(defaults)'} |"
              for v, s in variants.items()]
    for m in methods:
        lines += ["", f"## {m}", "",
                  "| variant | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± std | paired gain |",
                  "|---|" + "---:|" * (len(seeds) + 2)]
        for v, stats in summary.items():
            per_seed = {r["seed"]: r["mIoU"][m] for r in records if r["variant"] == v}
            gain = stats[m].get("gain")
            lines.append(f"| {v} | " + " | ".join(fmt(per_seed.get(s)) for s in seeds)
                         + f" | {fmt(stats[m]['mIoU']['mean'])} ± {fmt(stats[m]['mIoU']['std'])} | "
                         + (f"{fmt(gain['mean'], sign=True)} (min {fmt(gain['min'], sign=True)})"
                            if gain else "") + " |")
    return "\n".join(lines) + "\n"
