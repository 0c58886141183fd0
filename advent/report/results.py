"""The benchmark report: reports/results.md with the method tables (target test, and
target val) and its figures, from the evaluate stages' outputs.

Reads, per method, ``<metrics>/<method>/details.json`` (the per-split records of
``advent.evaluation.Evaluation.details``) and ``samples.npz``, and the pseudo-label
stage's metrics file. Every method must share one protocol and one model-selection rule.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from advent.data.labels import Protocol, get_protocol
from advent.io import read_json, write_text
from advent.report.plots import (
    plot_confusion_matrices, plot_entropy_histograms, plot_per_class_bars,
    plot_qualitative_grid, plot_reliability,
)
from advent.report.tables import method_table

#: The pipeline's methods (metrics/<method>), in report order, and their table names.
METHOD_LABELS = {"source_only": "source only", "minent": "MinEnt", "advent": "AdvEnt",
                 "ensemble": "AdvEnt+MinEnt", "self_train": "self-training",
                 "oracle": "oracle (target labels)"}
METHODS = tuple(METHOD_LABELS)
#: The report's figures, written into its folder beside results.md.
FIGURES = ("per_class_iou.png", "qualitative.png", "confusion_matrices.png", "reliability.png",
           "entropy_source_vs_target.png")


def method_label(method: str, lambda_cp: float | None) -> str:
    """A method's name in tables: a method trained with the class-ratio prior says so
    ("MinEnt + CP"); unknown methods keep their own name."""
    return METHOD_LABELS.get(method, method) + (" + CP" if lambda_cp else "")


@dataclass
class MethodResults:
    """The evaluate outputs of several methods, checked to be comparable.

    ``details`` per method as read from details.json; ``labels`` per method its table
    name; ``protocol`` and ``selection`` (the rule's label) shared by all.
    """

    methods: list[str]
    details: dict[str, dict[str, Any]]
    labels: dict[str, str]
    protocol: Protocol
    selection: str

    def by_label(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """{method: value} -> {table name: value}, in method order."""
        return {self.labels[m]: values[m] for m in self.methods}

    def split(self, split: str) -> dict[str, dict[str, Any]]:
        """{table name: the record of ``split``} (mIoU, subsets, per-class IoU, ...)."""
        return self.by_label({m: self.details[m][split] for m in self.methods})


def load_results(metrics_dir: str | os.PathLike, methods: Sequence[str]) -> MethodResults:
    """Read ``<metrics_dir>/<method>/details.json`` for each method; FileNotFoundError
    naming the methods without one, ValueError when they differ in protocol or in
    model-selection rule."""
    metrics_dir = Path(metrics_dir)
    methods = list(methods)
    missing = [m for m in methods if not (metrics_dir / m / "details.json").is_file()]
    if missing:
        raise FileNotFoundError(f"no metrics for method(s) {missing} under {metrics_dir} "
                                f"(run their evaluate stages first)")
    details = {m: read_json(metrics_dir / m / "details.json") for m in methods}
    test = {m: d["test"] for m, d in details.items()}
    protocols = {r["protocol"] for r in test.values()}
    if len(protocols) != 1:
        raise ValueError(f"methods were evaluated under different protocols: {sorted(protocols)}")
    selections = {m: r["selection"] for m, r in test.items()}
    if len(set(selections.values())) != 1:
        raise ValueError(f"methods were evaluated with different model selections: {selections}")
    return MethodResults(methods=methods, details=details,
                         labels={m: method_label(m, test[m].get("lambda_cp")) for m in methods},
                         protocol=get_protocol(protocols.pop()), selection=selections[methods[0]])


def write_figures(results: MethodResults, metrics_dir: str | os.PathLike,
                  out: str | os.PathLike) -> list[Path]:
    """The report's :data:`FIGURES` in ``out``: per-class IoU bars, a qualitative grid
    (image / ground truth / prediction + entropy per method on the fixed test images of
    ``<metrics_dir>/<method>/samples.npz``), row-normalised confusion matrices on test,
    reliability diagrams and entropy histograms on source vs target."""
    metrics_dir, out = Path(metrics_dir), Path(out)
    calibration = {m: d["calibration"] for m, d in results.details.items()}
    label = results.labels
    plot_per_class_bars(results.split("test"), results.protocol, out / "per_class_iou.png",
                        title=f"Per-class IoU on target test ({results.selection})")
    samples = {m: np.load(metrics_dir / m / "samples.npz") for m in results.methods}
    first = samples[results.methods[0]]
    plot_qualitative_grid(
        list(first["image"]), list(first["label"]),
        {label[m]: list(s["prediction"]) for m, s in samples.items()}, results.protocol,
        out / "qualitative.png",
        entropies={label[m]: list(s["entropy"].astype(np.float32)) for m, s in samples.items()})
    plot_confusion_matrices(
        results.by_label({m: d["confusion_matrix"]["test"] for m, d in results.details.items()}),
        results.protocol, out / "confusion_matrices.png")
    plot_reliability(results.by_label({m: c["target_test"] for m, c in calibration.items()}),
                     out / "reliability.png")
    plot_entropy_histograms(results.by_label({m: c["source_train"] for m, c in calibration.items()}),
                            results.by_label({m: c["target_test"] for m, c in calibration.items()}),
                            out / "entropy_source_vs_target.png")
    return [out / name for name in FIGURES]


def results_markdown(results: MethodResults, pseudo: Mapping[str, Any] | None = None) -> str:
    """The text of results.md: the method tables on target test (with ECE and AUROC) and
    target val, the pseudo-labels' coverage and accuracy (``pseudo``: the pseudo-label
    stage's metrics, ``{"pseudo_label": {"coverage", "accuracy"}}``), the figures.
    Δ columns are relative to source only, when it is among the methods."""
    baseline = results.labels.get("source_only")
    selection, protocol = results.selection, results.protocol
    extra = [("ece", 3), ("auroc_entropy_wrong", 3)]
    lines = [
        "# ADVENT benchmark report", "",
        "Generated by `stages/report.py` from the evaluate stages' outputs; do not edit by hand.", "",
        f"## Target test ({protocol.name}, {selection})", "",
        method_table(results.split("test"), protocol, baseline=baseline, selection=selection,
                     extra_columns=extra), "",
        "ECE: expected calibration error of the max-softmax confidence (lower is better); "
        "AUROC: how well pixel entropy separates wrong from right predictions. "
        "+ CP: trained with the class-ratio prior (adapt.<method>.lambda_cp > 0; for the "
        "ensemble, at least one member).", "",
        "## Target val (for tuning and model selection; not the reported numbers)", "",
        method_table(results.split("val"), protocol, baseline=baseline, selection=selection), "",
    ]
    if pseudo is not None:
        stats = pseudo["pseudo_label"]
        lines += ["## Pseudo-labels", "",
                  f"Selected {100 * stats['coverage']:.1f}% of target-train pixels; "
                  f"their accuracy against the (unused) ground truth: "
                  f"{100 * stats['accuracy']:.1f}%.", ""]
    lines += ["## Figures", "", f"Every figure shows the models reported above ({selection}).", "",
              "![per-class IoU](per_class_iou.png)", "",
              "![qualitative](qualitative.png)", "",
              "![confusion matrices on target test, rows normalised](confusion_matrices.png)", "",
              "![reliability](reliability.png)", "",
              "![entropy on source vs target](entropy_source_vs_target.png)", ""]
    return "\n".join(lines)


def write_report(metrics_dir: str | os.PathLike, out: str | os.PathLike,
                 methods: Sequence[str] = METHODS,
                 pseudo_metrics: str | os.PathLike | None = None) -> Path:
    """Write ``out``/results.md and its figures from the outputs under ``metrics_dir``;
    the pseudo-label section only when ``pseudo_metrics`` names an existing file."""
    results = load_results(metrics_dir, methods)
    write_figures(results, metrics_dir, out)
    pseudo = (read_json(pseudo_metrics)
              if pseudo_metrics is not None and Path(pseudo_metrics).is_file() else None)
    path = Path(out) / "results.md"
    write_text(path, results_markdown(results, pseudo))
    return path
