"""Segmentation metrics: confusion matrix and IoU, the paper's numbers.

Everything here takes numpy arrays (torch tensors are accepted and moved to the CPU) and
returns numpy arrays or JSON-serialisable dicts; nothing writes files. Calibration, the
paper's premise, is in :mod:`advent.calibration`.

As the official evaluation: a confusion matrix is accumulated over the whole evaluation
set (``bincount(n * gt + pred)`` over pixels with ``0 <= gt < n``), then
``IoU_c = diag / (row + col - diag)`` and ``mIoU = nanmean(IoU)``.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from advent.data.labels import IGNORE_INDEX, Protocol

def as_numpy(x: Any, what: str) -> np.ndarray:
    """numpy or torch (any device) -> numpy, without importing torch when it is not needed."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor
        return x.detach().cpu().numpy()
    if isinstance(x, (list, tuple, int, float)):
        return np.asarray(x)
    raise TypeError(f"{what}: expected a numpy array or torch tensor, got {type(x).__name__}")


def as_class_ids(x: Any, what: str) -> np.ndarray:
    arr = as_numpy(x, what)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        # A float "prediction" is almost always logits or probabilities passed by mistake.
        raise TypeError(f"{what}: expected an integer array of class ids, got dtype {arr.dtype}")
    return arr


# --------------------------------------------------------------------------------------
# Confusion matrix and IoU
# --------------------------------------------------------------------------------------


class ConfusionMatrix:
    """Pixel confusion matrix accumulated over an evaluation set.

    ``matrix[g, p]`` (int64, ``(C, C)``) counts pixels of ground-truth class ``g`` predicted
    as ``p``: rows = ground truth, columns = prediction. Pixels whose label is
    ``IGNORE_INDEX`` (255) are not counted.

    Example::

        cm = ConfusionMatrix(19)
        for pred, gt in loader:          # (N, H, W) or (H, W) integer arrays / tensors
            cm.update(pred, gt)
        metrics = summarize(cm.matrix, protocol)
    """

    def __init__(self, num_classes: int) -> None:
        if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        self.num_classes = int(num_classes)
        self.matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def reset(self) -> None:
        self.matrix[:] = 0

    def update(self, pred: Any, gt: Any) -> None:
        """Add one batch. ``pred`` and ``gt``: integer arrays/tensors of the same (any) shape.

        ``gt`` holds train ids in ``[0, C)`` or 255 (ignore); any other label value is an
        error (it means the labels and the protocol disagree). ``pred`` must lie in ``[0, C)``
        everywhere.
        """
        pred_np = as_class_ids(pred, "prediction")
        gt_np = as_class_ids(gt, "ground truth")
        if pred_np.shape != gt_np.shape:
            raise ValueError(
                f"prediction shape {tuple(pred_np.shape)} != ground-truth shape {tuple(gt_np.shape)}"
            )
        n = self.num_classes
        pred_flat = pred_np.reshape(-1).astype(np.int64, copy=False)
        gt_flat = gt_np.reshape(-1).astype(np.int64, copy=False)
        if pred_flat.size and (pred_flat.min() < 0 or pred_flat.max() >= n):
            raise ValueError(
                f"predictions must lie in [0, {n}), found values in "
                f"[{int(pred_flat.min())}, {int(pred_flat.max())}]"
            )
        valid = (gt_flat >= 0) & (gt_flat < n)
        bad = ~valid & (gt_flat != IGNORE_INDEX)
        if bad.any():
            raise ValueError(
                f"ground truth holds label values outside [0, {n}) and != {IGNORE_INDEX}: "
                f"{np.unique(gt_flat[bad])[:10].tolist()} (labels of another protocol?)"
            )
        self.matrix += np.bincount(n * gt_flat[valid] + pred_flat[valid], minlength=n * n).reshape(n, n)

    def merge(self, other: "ConfusionMatrix") -> None:
        """Add another matrix in place (e.g. one per worker)."""
        if other.num_classes != self.num_classes:
            raise ValueError(f"cannot merge a {other.num_classes}-class matrix into a {self.num_classes}-class one")
        self.matrix += other.matrix


def _check_square(matrix: Any) -> np.ndarray:
    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"confusion matrix must be square (C, C), got shape {m.shape}")
    return m


def iou_per_class(matrix: Any) -> np.ndarray:
    """(C, C) confusion matrix (rows = GT) -> (C,) float64 IoU in [0, 1].

    NaN where a class is absent from both ground truth and prediction (excluded by nanmean);
    0 where it is predicted but absent from the ground truth.
    """
    m = _check_square(matrix).astype(np.float64)
    tp = np.diag(m)
    union = m.sum(axis=1) + m.sum(axis=0) - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, tp / np.where(union > 0, union, 1.0), np.nan)


def _nanmean_or_none(values: np.ndarray) -> float | None:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else None


def _pct(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else 100.0 * float(x)


def summarize(matrix: Any, protocol: Protocol) -> dict[str, Any]:
    """Confusion matrix -> JSON-serialisable metrics, all in percent.

    Returns ``{"mIoU": .., <each protocol.subsets name, e.g. "mIoU13">: ..,
    "pixel_accuracy": .., "num_pixels": int, "per_class_iou": {class name: IoU or None}}``.
    None stands for NaN (class absent from GT and prediction; or no pixel at all).
    """
    m = _check_square(matrix)
    if m.shape[0] != protocol.num_classes:
        raise ValueError(
            f"confusion matrix is {m.shape[0]}x{m.shape[0]} but protocol {protocol.name!r} "
            f"has {protocol.num_classes} classes"
        )
    iou = iou_per_class(m)
    total = int(m.sum())
    out: dict[str, Any] = {"mIoU": _pct(_nanmean_or_none(iou))}
    for name, idx in protocol.subsets.items():
        out[name] = _pct(_nanmean_or_none(iou[list(idx)]))
    out["pixel_accuracy"] = _pct(float(np.trace(m)) / total) if total else None
    out["num_pixels"] = total
    out["per_class_iou"] = {name: _pct(float(v)) for name, v in zip(protocol.class_names, iou)}
    return out
