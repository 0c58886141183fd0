"""The benchmark report: reports/results.md with the method tables (target test, and
target val) and its figures, from the evaluate stages' outputs.

Reads, per method, ``<metrics>/<method>/details.json`` (the per-split records of
``advent.evaluation.Evaluation.details``) and ``samples.npz``, and the pseudo-label
stage's and the ranking stage's metrics files. Every method must share one protocol and one model-selection rule.
Class names and colours come from those records (a class map's own, or a built-in
protocol's).

Without target labels the report shows what it can: the tables say "no target labels",
the figures of test scores are drawn on val (or say that nothing can be scored), the
reliability diagrams are drawn on source train when the target has no labels at all,
and the qualitative grid and the entropy histograms use the target images the
evaluation predicted on. A method whose stage was skipped (the oracle without target
labels) is named with the reason, and left out of tables and figures.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from advent.data.labels import NO_TARGET_LABELS, Protocol, protocol_from_record, same_classes
from advent.io import read_json, write_text
from advent.report.plots import (
    plot_confusion_matrices, plot_entropy_histograms, plot_message, plot_per_class_bars,
    plot_qualitative_grid, plot_reliability,
)
from advent.report.tables import method_table

#: The pipeline's methods (metrics/<method>), in report order, and their table names.
METHOD_LABELS = {"source_only": "source only", "adabn": "AdaBN (target BN statistics)",
                 "minent": "MinEnt", "advent": "AdvEnt",
                 "ensemble": "AdvEnt+MinEnt", "self_train": "self-training",
                 "intrada": "IntraDA", "oracle": "oracle (target labels)"}
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
    name; ``protocol`` and ``selection`` (the rule's label) shared by all. ``skipped``:
    methods whose stage was skipped, with the reason (not in ``methods``).
    """

    methods: list[str]
    details: dict[str, dict[str, Any]]
    labels: dict[str, str]
    protocol: Protocol
    selection: str
    skipped: dict[str, str]

    def by_label(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """{method: value} -> {table name: value}, in method order."""
        return {self.labels[m]: values[m] for m in self.methods}

    def split(self, split: str) -> dict[str, dict[str, Any]]:
        """{table name: the record of ``split``} (mIoU, subsets, per-class IoU, ...)."""
        return self.by_label({m: self.details[m][split] for m in self.methods})

    def labelled(self, split: str) -> bool:
        """Whether the target ``split`` had labels (the methods' numbers exist)."""
        return not any(self.details[m][split].get("no_target_labels") for m in self.methods)

    def scored_split(self) -> str | None:
        """The target split the figures of scores show: test, else val; None without labels."""
        return next((split for split in ("test", "val") if self.labelled(split)), None)

    def target_calibration(self, method: str) -> tuple[str, dict[str, Any]]:
        """(split, result) of the target calibration of ``method``: ``target_test``, or of
        the split its evaluation predicted on instead (entropy only when unlabelled)."""
        calibration = self.details[method]["calibration"]
        key = next(k for k in calibration if k.startswith("target_"))
        return key[len("target_"):], calibration[key]


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
    protocols = {m: protocol_from_record(r, str(metrics_dir / m / "details.json"))
                 for m, r in test.items()}
    first = protocols[methods[0]]
    if not all(same_classes(p, first) for p in protocols.values()):
        raise ValueError(f"methods were evaluated under different protocols: "
                         f"{sorted({p.name for p in protocols.values()})}")
    selections = {m: r["selection"] for m, r in test.items()}
    if len(set(selections.values())) != 1:
        raise ValueError(f"methods were evaluated with different model selections: {selections}")
    skipped = {m: r["skipped"] for m, r in test.items() if r.get("skipped")}
    if len(skipped) == len(methods):
        raise ValueError(f"every method was skipped: {skipped}")
    return MethodResults(methods=[m for m in methods if m not in skipped], details=details,
                         labels={m: method_label(m, test[m].get("lambda_cp")) for m in methods},
                         protocol=first, selection=selections[methods[0]], skipped=skipped)


def write_figures(results: MethodResults, metrics_dir: str | os.PathLike,
                  out: str | os.PathLike) -> list[Path]:
    """The report's :data:`FIGURES` in ``out``: per-class IoU bars, a qualitative grid
    (image / ground truth / prediction + entropy per method on the fixed test images of
    ``<metrics_dir>/<method>/samples.npz``), row-normalised confusion matrices on test,
    reliability diagrams and entropy histograms on source vs target. Without target test
    labels the per-class IoU and the confusion matrices are of target val (and say so
    when it has none either), and the reliability diagrams are of source train when the
    target has no labels at all."""
    metrics_dir, out = Path(metrics_dir), Path(out)
    methods, label = results.methods, results.labels
    source = {m: results.details[m]["calibration"]["source_train"] for m in methods}
    target = {m: results.target_calibration(m)[1] for m in methods}
    shown = results.target_calibration(methods[0])[0]
    scored = results.scored_split()
    if scored is not None:
        plot_per_class_bars(results.split(scored), results.protocol, out / "per_class_iou.png",
                            title=f"Per-class IoU on target {scored} ({results.selection})")
        plot_confusion_matrices(
            results.by_label({m: results.details[m]["confusion_matrix"][scored] for m in methods}),
            results.protocol, out / "confusion_matrices.png")
    else:
        for name, what in (("per_class_iou.png", "Per-class IoU on target test"),
                           ("confusion_matrices.png", "Confusion matrices on target test")):
            plot_message(out / name, what, f"{NO_TARGET_LABELS}: nothing to score")
    samples = {m: np.load(metrics_dir / m / "samples.npz") for m in methods}
    first = samples[methods[0]]
    unlabelled = target[methods[0]].get("labelled") is False
    plot_qualitative_grid(
        list(first["image"]), list(first["label"]),
        {label[m]: list(s["prediction"]) for m, s in samples.items()}, results.protocol,
        out / "qualitative.png",
        entropies={label[m]: list(s["entropy"].astype(np.float32)) for m, s in samples.items()},
        ground_truth_title=f"ground truth ({NO_TARGET_LABELS})" if unlabelled else "ground truth")
    if unlabelled:
        plot_reliability(results.by_label(source), out / "reliability.png",
                         title=f"On source train ({NO_TARGET_LABELS})")
    else:
        plot_reliability(results.by_label(target), out / "reliability.png",
                         title=None if shown == "test" else f"On target {shown}")
    plot_entropy_histograms(results.by_label(source), results.by_label(target),
                            out / "entropy_source_vs_target.png")
    return [out / name for name in FIGURES]


def _split_section(results: MethodResults, split: str, title: str, baseline: str | None,
                   extra: list | tuple = ()) -> list[str]:
    if not results.labelled(split):
        return [title, "", f"{NO_TARGET_LABELS.capitalize()}: the target has no labelled "
                f"{split} split, so there is nothing to score.", ""]
    return [title, "", method_table(results.split(split), results.protocol, baseline=baseline,
                                    selection=results.selection, extra_columns=extra), ""]


def _percent(value: Any) -> str:
    """A fraction as a percentage, or the string it is ("no target labels")."""
    return f"{100 * value:.1f}%" if isinstance(value, (int, float)) else str(value)


def _miou(value: Any) -> str:
    """An mIoU in percent, or the string it is ("no target labels")."""
    return f"{value:.1f}" if isinstance(value, (int, float)) else str(value)


def ranking_section(rank: Mapping[str, Any]) -> list[str]:
    """The entropy ranking's lines (``rank``: the rank stage's metrics, ``{"rank": {"easy",
    "hard", "argmax", "class_balanced"}}``): the split, the ranking model's mIoU on each
    part, and both kinds of easy-split labels."""
    stats = rank["rank"]
    easy, hard = stats["easy"], stats["hard"]
    rows = [f"| {name} | {_percent(stats[kind]['coverage'])} | {_percent(stats[kind]['accuracy'])} |"
            for kind, name in (("argmax", "argmax (IntraDA)"),
                               ("class_balanced", "class-balanced"))]
    return ["## Entropy ranking (IntraDA)", "",
            f"Target train split by mean normalised entropy: {easy['images']} easy images "
            f"(mean score {easy['mean_score']:.4f}), {hard['images']} hard "
            f"({hard['mean_score']:.4f}). The ranking model's mIoU against the (unused) "
            f"ground truth, on the easy images: {_miou(easy['mIoU'])}, on the hard: "
            f"{_miou(hard['mIoU'])}. Pseudo-labels of the easy images:", "",
            "| labels | coverage | accuracy |", "|---|---:|---:|", *rows, "",
            "![entropy ranking](ranking.png)", ""]


def results_markdown(results: MethodResults, pseudo: Mapping[str, Any] | None = None,
                     rank: Mapping[str, Any] | None = None) -> str:
    """The text of results.md: the method tables on target test (with ECE and AUROC) and
    target val, the pseudo-labels' coverage and accuracy (``pseudo``: the pseudo-label
    stage's metrics, ``{"pseudo_label": {"coverage", "accuracy"}}``), the entropy
    ranking's split and easy-split labels (``rank``, see :func:`ranking_section`), the figures.
    Δ columns are relative to source only, when it is among the methods."""
    baseline = results.labels.get("source_only") if "source_only" in results.methods else None
    selection, protocol = results.selection, results.protocol
    extra = [("ece", 3), ("auroc_entropy_wrong", 3)]
    lines = [
        "# ADVENT benchmark report", "",
        "Generated by `stages/report.py` from the evaluate stages' outputs; do not edit by hand.", "",
        *_split_section(results, "test", f"## Target test ({protocol.name}, {selection})",
                        baseline, extra),
    ]
    if results.labelled("test"):
        lines += [
            "ECE: expected calibration error of the max-softmax confidence (lower is better); "
            "AUROC: how well pixel entropy separates wrong from right predictions. "
            "+ CP: trained with the class-ratio prior (adapt.<method>.lambda_cp > 0; for the "
            "ensemble, at least one member).", ""]
    lines += _split_section(results, "val", "## Target val (for tuning and model selection; "
                            "not the reported numbers)", baseline)
    for method, reason in results.skipped.items():
        lines += [f"{results.labels[method]}: skipped ({reason}).", ""]
    if pseudo is not None:
        stats = pseudo["pseudo_label"]
        accuracy = stats["accuracy"]
        lines += ["## Pseudo-labels", "",
                  f"Selected {100 * stats['coverage']:.1f}% of target-train pixels; "
                  f"their accuracy against the (unused) ground truth: {_percent(accuracy)}.", ""]
    if rank is not None:
        lines += ranking_section(rank)
    lines += ["## Figures", "", f"Every figure shows the models reported above ({selection}).", "",
              "![per-class IoU](per_class_iou.png)", "",
              "![qualitative](qualitative.png)", "",
              f"![confusion matrices on target {results.scored_split() or 'test'}, rows "
              f"normalised](confusion_matrices.png)", "",
              "![reliability](reliability.png)", "",
              "![entropy on source vs target](entropy_source_vs_target.png)", ""]
    return "\n".join(lines)


def write_report(metrics_dir: str | os.PathLike, out: str | os.PathLike,
                 methods: Sequence[str] = METHODS,
                 pseudo_metrics: str | os.PathLike | None = None,
                 rank_metrics: str | os.PathLike | None = None) -> Path:
    """Write ``out``/results.md and its figures from the outputs under ``metrics_dir``;
    the pseudo-label section only when ``pseudo_metrics`` names an existing file, the
    ranking section only when ``rank_metrics`` does."""
    results = load_results(metrics_dir, methods)
    write_figures(results, metrics_dir, out)
    pseudo = (read_json(pseudo_metrics)
              if pseudo_metrics is not None and Path(pseudo_metrics).is_file() else None)
    rank = (read_json(rank_metrics)
            if rank_metrics is not None and Path(rank_metrics).is_file() else None)
    path = Path(out) / "results.md"
    write_text(path, results_markdown(results, pseudo, rank))
    return path
