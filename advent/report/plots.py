"""Report figures as PNG files (matplotlib, Agg, no pyplot global state).

Every function takes plain numbers / numpy arrays / metric dicts, writes one PNG atomically
(``advent.io.atomic_path``) and returns its path. Asking for methods that have no data is a
``ValueError`` naming them: a figure is never silently empty.

Inputs:
- per-method segmentation metrics: dicts from ``advent.metrics.summarize`` (or
  ``advent.report.tables.aggregate_seeds`` for several seeds: drawn as mean ± std);
- per-method calibration: dicts from ``advent.calibration.CalibrationAccumulator.result``.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure  # Figure + savefig uses the Agg canvas: no display needed

from advent.data.labels import IGNORE_INDEX, Protocol, colorize
from advent.io import atomic_path

#: Fixed colormap and range for entropy maps, so figures from different runs compare.
ENTROPY_CMAP = "inferno"


def _save(fig: Figure, out_png: str | os.PathLike, dpi: int = 100) -> Path:
    out = Path(out_png)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    return out


def _select(available: Mapping[str, Any], methods: Sequence[str] | None, what: str) -> list[str]:
    """The methods to draw, in order; error naming those without data."""
    chosen = list(available) if methods is None else list(methods)
    if not chosen:
        raise ValueError(f"no methods to plot ({what})")
    missing = [m for m in chosen if m not in available or available[m] is None]
    if missing:
        raise ValueError(f"no {what} for method(s) {missing}; available: {sorted(k for k, v in available.items() if v is not None)}")
    return chosen


def _mean_std(x: Any) -> tuple[float, float]:
    """Plain number or aggregate {"mean","std"} -> (mean, std); NaN where undefined."""
    if isinstance(x, Mapping):
        m, s = x.get("mean"), x.get("std")
    else:
        m, s = x, None
    return (math.nan if m is None else float(m)), (math.nan if s is None else float(s))


def plot_per_class_bars(
    metrics: Mapping[str, Mapping[str, Any]],
    protocol: Protocol,
    out_png: str | os.PathLike,
    methods: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Grouped bars of per-class IoU (%): classes on x, one bar per method (± std if aggregated)."""
    chosen = _select(metrics, methods, "segmentation metrics")
    classes = list(protocol.class_names)
    k = len(chosen)
    width = 0.8 / k
    x = np.arange(len(classes))
    fig = Figure(figsize=(max(8.0, 0.6 * len(classes) * max(1, k / 2)), 4.5), layout="constrained")
    ax = fig.add_subplot()
    for i, method in enumerate(chosen):
        per_class = metrics[method].get("per_class_iou") or {}
        ms = [_mean_std(per_class.get(c)) for c in classes]
        means = np.array([m for m, _ in ms])
        stds = np.array([s for _, s in ms])
        miou, _ = _mean_std(metrics[method].get("mIoU"))
        ax.bar(
            x - 0.4 + width * (i + 0.5), np.nan_to_num(means), width,
            yerr=None if np.isnan(stds).all() else np.nan_to_num(stds),
            label=f"{method} (mIoU {miou:.1f})", capsize=2,
        )
    ax.set_xticks(x)
    ax.set_xticklabels(classes, rotation=45, ha="right")
    ax.set_ylabel("IoU (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title or f"Per-class IoU ({protocol.name})")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, out_png)


def plot_qualitative_grid(
    images: Sequence[np.ndarray],
    ground_truth: Sequence[np.ndarray],
    predictions: Mapping[str, Sequence[np.ndarray]],
    protocol: Protocol,
    out_png: str | os.PathLike,
    entropies: Mapping[str, Sequence[np.ndarray]] | None = None,
    methods: Sequence[str] | None = None,
    row_labels: Sequence[str] | None = None,
    ground_truth_title: str = "ground truth",
) -> Path:
    """Rows = images (pass the same fixed test images for every report); columns = image,
    ground truth (titled ``ground_truth_title``), then per method its prediction (and its
    entropy map if ``entropies``).

    images: (H, W, 3) uint8 RGB (floats in [0, 1] accepted; network inputs are refused); ground_truth and predictions: (H, W) train ids (255 =
    ignore, drawn black); entropies: (H, W) normalised entropy, drawn with a fixed
    colormap on [0, 1]. Each method's sequence must have one map per image. The maps of a
    row share the ground truth's shape; the image may have another size of the same aspect
    ratio (test labels kept at full resolution, predictions upsampled to them).
    """
    n = len(images)
    if n == 0:
        raise ValueError("qualitative grid: no images")
    chosen = _select(predictions, methods, "predictions")
    if entropies is not None:
        _select(entropies, chosen, "entropy maps")
    if len(ground_truth) != n:
        raise ValueError(f"{n} images but {len(ground_truth)} ground-truth maps")
    for m in chosen:
        for name, seqs in (("predictions", predictions), ("entropy maps", entropies)):
            if seqs is not None and len(seqs[m]) != n:
                raise ValueError(f"{n} images but {len(seqs[m])} {name} for {m!r}")
    if row_labels is not None and len(row_labels) != n:
        raise ValueError(f"{n} images but {len(row_labels)} row labels")

    cols: list[str] = ["image", ground_truth_title]
    for m in chosen:
        cols.append(m)
        if entropies is not None:
            cols.append(f"{m}: entropy")
    h0, w0 = np.asarray(images[0]).shape[:2]
    cell_w = 3.0
    cell_h = cell_w * h0 / w0
    fig = Figure(figsize=(cell_w * len(cols), cell_h * n + 0.6), layout="constrained")
    axes = fig.subplots(n, len(cols), squeeze=False)
    ent_artist = None
    for r in range(n):
        img = np.asarray(images[r])
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"image {r}: expected (H, W, 3) RGB, got shape {img.shape}")
        # A network input (mean-subtracted BGR floats) would be drawn as garbage: refuse it.
        if img.dtype != np.uint8 and not (np.issubdtype(img.dtype, np.floating) and img.min() >= 0 and img.max() <= 1):
            raise ValueError(f"image {r}: expected uint8 RGB (or floats in [0, 1]), got {img.dtype} "
                             f"in [{img.min():.3g}, {img.max():.3g}]")
        hw = np.asarray(ground_truth[r]).shape[:2]
        if img.shape[0] * hw[1] != img.shape[1] * hw[0]:
            raise ValueError(f"image {r}: shape {img.shape[:2]} is not the aspect ratio of its "
                             f"ground truth {hw}")
        panels: list[tuple[str, np.ndarray]] = [("rgb", img), ("label", np.asarray(ground_truth[r]))]
        for m in chosen:
            panels.append(("label", np.asarray(predictions[m][r])))
            if entropies is not None:
                panels.append(("entropy", np.asarray(entropies[m][r], dtype=np.float32)))
        for c, (kind, arr) in enumerate(panels):
            if kind != "rgb" and arr.shape[:2] != hw:
                raise ValueError(f"row {r}, column {cols[c]!r}: shape {arr.shape[:2]} != ground-truth shape {hw}")
            ax = axes[r, c]
            if kind == "rgb":
                ax.imshow(arr)
            elif kind == "label":
                lab = arr.astype(np.int64)
                bad = (lab < 0) | ((lab >= protocol.num_classes) & (lab != IGNORE_INDEX))
                if bad.any():
                    raise ValueError(f"row {r}, column {cols[c]!r}: ids outside the {protocol.name} classes")
                ax.imshow(colorize(lab.astype(np.uint8), protocol), interpolation="nearest")
            else:
                ent_artist = ax.imshow(arr, cmap=ENTROPY_CMAP, vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(cols[c], fontsize=9)
        if row_labels is not None:
            axes[r, 0].set_ylabel(row_labels[r], fontsize=8)
    if ent_artist is not None:
        fig.colorbar(ent_artist, ax=axes.ravel().tolist(), fraction=0.02, pad=0.01, label="normalised entropy")
    return _save(fig, out_png)


def _grid(k: int, cell: tuple[float, float]) -> tuple[Figure, np.ndarray]:
    ncols = min(k, 4)
    nrows = math.ceil(k / ncols)
    fig = Figure(figsize=(cell[0] * ncols, cell[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[k:]:
        ax.set_visible(False)
    return fig, axes


def plot_reliability(
    calibration: Mapping[str, Mapping[str, Any]],
    out_png: str | os.PathLike,
    methods: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """One reliability diagram per method: per-bin accuracy vs confidence, the diagonal,
    and the ECE in the title (``title`` above them all, when given).
    ``calibration[m]`` is ``CalibrationAccumulator.result()``."""
    chosen = _select(calibration, methods, "calibration results")
    fig, axes = _grid(len(chosen), (3.6, 3.6))
    if title:
        fig.suptitle(title, fontsize=10)
    for ax, m in zip(axes, chosen):
        rel = calibration[m].get("reliability")
        if not rel or not any(rel.get("count") or []):
            raise ValueError(f"calibration result of {m!r} holds no pixels")
        edges = np.asarray(rel["bin_edges"], dtype=float)
        centers = (edges[:-1] + edges[1:]) / 2
        width = np.diff(edges)
        acc = np.array([np.nan if a is None else a for a in rel["accuracy"]], dtype=float)
        conf = np.array([np.nan if a is None else a for a in rel["confidence"]], dtype=float)
        ok = ~np.isnan(acc)
        ax.bar(centers[ok], acc[ok], width[ok], color="tab:blue", edgecolor="black", label="accuracy")
        ax.bar(centers[ok], conf[ok] - acc[ok], width[ok], bottom=acc[ok], color="tab:red", alpha=0.3,
               edgecolor="tab:red", label="gap to confidence")
        ax.plot([0, 1], [0, 1], "k--", lw=1)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        ece = calibration[m].get("ece")
        ax.set_title(f"{m}" + ("" if ece is None else f" (ECE {100 * ece:.1f}%)"), fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    return _save(fig, out_png)


def plot_confusion_matrices(
    matrices: Mapping[str, Any],
    protocol: Protocol,
    out_png: str | os.PathLike,
    methods: Sequence[str] | None = None,
) -> Path:
    """One row-normalised confusion matrix per method: cell (g, p) is the share of
    ground-truth class g's pixels predicted as p (rows of absent classes stay blank).
    ``matrices[m]`` is a (C, C) count matrix, rows = ground truth (``ConfusionMatrix``)."""
    chosen = _select(matrices, methods, "confusion matrices")
    n = protocol.num_classes
    fig, axes = _grid(len(chosen), (4.6, 4.2))
    image = None
    for ax, m in zip(axes, chosen):
        counts = np.asarray(matrices[m], dtype=np.float64)
        if counts.shape != (n, n):
            raise ValueError(f"confusion matrix of {m!r} is {counts.shape}, protocol "
                             f"{protocol.name} has {n} classes")
        if counts.sum() <= 0:
            raise ValueError(f"confusion matrix of {m!r} holds no pixels")
        rows = counts.sum(1, keepdims=True)
        share = np.divide(counts, rows, out=np.full_like(counts, np.nan), where=rows > 0)
        image = ax.imshow(share, vmin=0, vmax=1, cmap="viridis", interpolation="nearest")
        ax.set_xticks(range(n), protocol.class_names, rotation=90, fontsize=6)
        ax.set_yticks(range(n), protocol.class_names, fontsize=6)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("ground truth", fontsize=8)
        ax.set_title(m, fontsize=9)
    fig.colorbar(image, ax=axes[:len(chosen)].tolist(), fraction=0.02, pad=0.01,
                 label="share of the ground-truth class")
    return _save(fig, out_png)


def _entropy_hist(result: Mapping[str, Any], method: str, domain: str) -> tuple[np.ndarray, np.ndarray]:
    hist = result.get("entropy_histogram") if "entropy_histogram" in result else result
    if not hist or "count" not in hist:
        raise ValueError(f"{domain} calibration result of {method!r} has no entropy histogram")
    counts = np.asarray(hist["count"], dtype=float)
    if counts.sum() <= 0:
        raise ValueError(f"{domain} entropy histogram of {method!r} is empty")
    return np.asarray(hist["bin_edges"], dtype=float), counts / counts.sum()


def plot_entropy_histograms(
    source: Mapping[str, Mapping[str, Any]],
    target: Mapping[str, Mapping[str, Any]],
    out_png: str | os.PathLike,
    methods: Sequence[str] | None = None,
) -> Path:
    """Per method, the distribution of normalised pixel entropy on source vs target
    (fraction of pixels per bin). Values are calibration results (or their
    ``entropy_histogram``). Methods default to those in ``target``."""
    chosen = _select(target, methods if methods is not None else list(target), "target entropy histograms")
    _select(source, chosen, "source entropy histograms")
    fig, axes = _grid(len(chosen), (3.6, 3.0))
    for ax, m in zip(axes, chosen):
        for domain, res, color in (("source", source[m], "tab:blue"), ("target", target[m], "tab:orange")):
            edges, frac = _entropy_hist(res, m, domain)
            ax.stairs(frac, edges, label=domain, color=color, lw=1.5)
        ax.set_xlim(0, 1)
        ax.set_xlabel("normalised entropy")
        ax.set_ylabel("fraction of pixels")
        ax.set_yscale("log")
        ax.set_title(m, fontsize=9)
        ax.legend(fontsize=7)
    return _save(fig, out_png)


def plot_message(out_png: str | os.PathLike, title: str, message: str) -> Path:
    """A figure that says why it has nothing to draw (e.g. no target labels to score)."""
    fig = Figure(figsize=(6.0, 1.6), layout="constrained")
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title, fontsize=10)
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, wrap=True)
    return _save(fig, out_png)


def plot_errorbars(
    series: Mapping[str, Sequence[tuple[Any, float, float | None]]],
    out_png: str | os.PathLike,
    xlabel: str,
    ylabel: str,
    logx: bool | None = None,
    title: str | None = None,
) -> Path:
    """Metric-vs-parameter lines with error bars: ``series[label] = [(x, mean, std), ...]``
    (std None/NaN: a single run, no bar). Numeric x gives a numeric axis (log scale when
    ``logx``; ``None``: automatic when all x > 0 and they span more than a factor 20);
    otherwise x values are categories in order of first appearance."""
    if not series or not any(len(pts) for pts in series.values()):
        raise ValueError("no points to plot")
    all_x = [p[0] for pts in series.values() for p in pts]
    numeric = all(isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) for x in all_x)
    if numeric:
        xs = np.asarray(all_x, dtype=float)
        if logx is None:
            logx = bool((xs > 0).all() and xs.max() / xs.min() > 20)
    else:
        categories = list(dict.fromkeys(str(x) for x in all_x))
        logx = False
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for label, pts in series.items():
        if not len(pts):
            continue
        pts = sorted(pts, key=lambda p: p[0]) if numeric else list(pts)
        x = [float(p[0]) if numeric else categories.index(str(p[0])) for p in pts]
        y = [float(p[1]) for p in pts]
        err = [0.0 if p[2] is None or np.isnan(p[2]) else float(p[2]) for p in pts]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=str(label))
    if not numeric:
        ax.set_xticks(range(len(categories)))
        ax.set_xticklabels(categories, rotation=30, ha="right")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    if len(series) > 1 or any(str(k) for k in series):
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, out_png)
