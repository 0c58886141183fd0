"""Calibration: ADVENT rests on "confident (low entropy) on source, unsure on target".

:class:`CalibrationAccumulator` measures how well confidence and entropy track
correctness over an evaluation set (ECE, reliability diagram, entropy histograms, AUROC
of entropy as a detector of wrong pixels); :class:`EntropyHistogram` counts normalised
entropy alone, where no labels exist. Inputs are numpy arrays or torch tensors (moved to
the CPU); results are JSON-serialisable dicts.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from advent.data.labels import IGNORE_INDEX
from advent.metrics import as_class_ids, as_numpy

#: Added inside logarithms, as the official code (and advent.losses).
_EPS = 1e-30


class CalibrationAccumulator:
    """Calibration and entropy statistics over valid pixels, in bounded memory.

    Feed it either softmax probabilities (:meth:`update`) or per-pixel maps
    (:meth:`update_from_maps`). Only pixels with a valid label (``0 <= gt < C``; 255 ignored)
    count. :meth:`result` gives (fractions in [0, 1], not percent):

    - ``ece``: expected calibration error, ``sum_b n_b / N * |acc_b - conf_b|`` over
      ``num_bins`` equal-width confidence bins on [0, 1]; ``mce`` the largest gap.
    - ``reliability``: per-bin edges, accuracy, mean confidence, count (None for empty bins).
    - ``entropy_histogram``: counts of normalised entropy (``-sum p log p / log C``) in
      ``entropy_bins`` fixed bins over [0, 1], for all / correct / wrong pixels.
    - ``auroc_entropy_wrong``: AUROC of entropy as a score for "this pixel is wrong"
      (:func:`auroc`) on a uniform random sample of at most ``max_samples`` pixels
      (bottom-k of seeded random keys, so the result is reproducible for a fixed update order).
    """

    def __init__(
        self,
        num_bins: int = 15,
        max_samples: int = 200_000,
        entropy_bins: int = 20,
        seed: int = 0,
    ) -> None:
        if num_bins < 1 or entropy_bins < 1 or max_samples < 1:
            raise ValueError("num_bins, entropy_bins and max_samples must be >= 1")
        self.num_bins = int(num_bins)
        self.entropy_bins = int(entropy_bins)
        self.max_samples = int(max_samples)
        self._rng = np.random.default_rng(seed)
        self._count = np.zeros(self.num_bins, dtype=np.int64)
        self._conf_sum = np.zeros(self.num_bins, dtype=np.float64)
        self._correct = np.zeros(self.num_bins, dtype=np.int64)
        self._ent_correct = np.zeros(self.entropy_bins, dtype=np.int64)
        self._ent_wrong = np.zeros(self.entropy_bins, dtype=np.int64)
        self._ent_sum = 0.0
        self._has_entropy: bool | None = None  # fixed by the first update
        # Reservoir (bottom-k sampling): keep the pixels with the smallest random keys.
        self._keys = np.empty(0, dtype=np.float64)
        self._res_entropy = np.empty(0, dtype=np.float32)
        self._res_wrong = np.empty(0, dtype=bool)

    # -- input ---------------------------------------------------------------------------

    def update(self, prob: Any, gt: Any) -> None:
        """Add softmax probabilities ``prob`` (N, C, H, W) [or (C, H, W)] and labels ``gt``
        (N, H, W) [or (H, W)]. Probabilities must sum to 1 over C (logits are rejected)."""
        if hasattr(prob, "detach") and hasattr(prob, "cpu"):
            # Reduce on the tensor's own device first: C x fewer bytes to copy to the CPU.
            import torch

            p = prob.detach().float()
            if p.dim() == 3:
                p = p.unsqueeze(0)
            self._check_prob_shape(tuple(p.shape))
            sums = p.sum(dim=1)
            self._check_sums(float((sums - 1).abs().max()), float(p.min()))
            conf_t, pred_t = p.max(dim=1)
            ent_t = (-(p * torch.log(p + _EPS)).sum(dim=1) / math.log(p.shape[1])) if p.shape[1] > 1 else torch.zeros_like(conf_t)
            conf, pred, ent = conf_t.cpu().numpy(), pred_t.cpu().numpy(), ent_t.cpu().numpy()
            num_classes = int(p.shape[1])
        else:
            p = np.asarray(prob, dtype=np.float32)
            if p.ndim == 3:
                p = p[None]
            self._check_prob_shape(p.shape)
            self._check_sums(float(np.abs(p.sum(axis=1) - 1).max()), float(p.min()))
            pred = p.argmax(axis=1)
            conf = np.take_along_axis(p, pred[:, None], axis=1)[:, 0]
            num_classes = p.shape[1]
            ent = (-(p * np.log(p + _EPS)).sum(axis=1) / math.log(num_classes)) if num_classes > 1 else np.zeros_like(conf)
        gt_np = as_class_ids(gt, "ground truth")
        if gt_np.ndim == 2:
            gt_np = gt_np[None]
        self.update_from_maps(conf, pred, gt_np, entropy=ent, num_classes=num_classes)

    @staticmethod
    def _check_prob_shape(shape: tuple[int, ...]) -> None:
        if len(shape) != 4:
            raise ValueError(f"probabilities must be (N, C, H, W) or (C, H, W), got shape {shape}")

    @staticmethod
    def _check_sums(max_dev: float, min_val: float) -> None:
        if max_dev > 1e-3 or min_val < 0:
            raise ValueError(
                "probabilities must be non-negative and sum to 1 over the class axis "
                f"(max |sum - 1| = {max_dev:.3g}, min = {min_val:.3g}); pass softmax(logits), not logits"
            )

    def update_from_maps(
        self,
        confidence: Any,
        prediction: Any,
        gt: Any,
        entropy: Any | None = None,
        num_classes: int | None = None,
    ) -> None:
        """Add per-pixel maps of one shape: ``confidence`` (max softmax probability, [0, 1]),
        ``prediction`` (class ids), ``gt`` (labels, 255 ignored) and optionally ``entropy``
        (normalised, [0, 1]). Without entropy, the entropy histogram and AUROC are not
        computed; all updates must agree on whether entropy is given.

        ``num_classes`` (if given) rejects labels ``>= num_classes`` other than 255; without it
        every label except 255 and negatives counts.
        """
        conf = as_numpy(confidence, "confidence").astype(np.float64, copy=False).reshape(-1)
        pred = as_class_ids(prediction, "prediction").reshape(-1)
        gt_np = as_class_ids(gt, "ground truth").reshape(-1)
        shapes = {"confidence": np.shape(confidence), "prediction": np.shape(prediction), "gt": np.shape(gt)}
        ent = None
        if entropy is not None:
            ent = as_numpy(entropy, "entropy").astype(np.float64, copy=False).reshape(-1)
            shapes["entropy"] = np.shape(entropy)
        if len({tuple(s) for s in shapes.values()}) != 1:
            raise ValueError(f"calibration maps must share one shape, got {shapes}")
        has_entropy = ent is not None
        if self._has_entropy is None:
            self._has_entropy = has_entropy
        elif self._has_entropy != has_entropy:
            raise ValueError("either every update passes entropy or none does")
        if conf.size and (conf.min() < 0 or conf.max() > 1 + 1e-6):
            raise ValueError(f"confidence must lie in [0, 1], found [{conf.min():.3g}, {conf.max():.3g}]")

        valid = (gt_np >= 0) & (gt_np != IGNORE_INDEX)
        if num_classes is not None:
            bad = valid & (gt_np >= num_classes)
            if bad.any():
                raise ValueError(
                    f"ground truth holds labels >= {num_classes} other than {IGNORE_INDEX}: "
                    f"{np.unique(gt_np[bad])[:10].tolist()}"
                )
        conf, pred, gt_np = conf[valid], pred[valid], gt_np[valid]
        correct = pred == gt_np
        # Equal-width bins on [0, 1]; confidence 1.0 goes into the last bin.
        b = np.minimum((conf * self.num_bins).astype(np.int64), self.num_bins - 1)
        self._count += np.bincount(b, minlength=self.num_bins)
        self._conf_sum += np.bincount(b, weights=conf, minlength=self.num_bins)
        self._correct += np.bincount(b, weights=correct, minlength=self.num_bins).astype(np.int64)

        if ent is None:
            return
        ent = np.clip(ent[valid], 0.0, 1.0)
        eb = np.minimum((ent * self.entropy_bins).astype(np.int64), self.entropy_bins - 1)
        self._ent_correct += np.bincount(eb[correct], minlength=self.entropy_bins)
        self._ent_wrong += np.bincount(eb[~correct], minlength=self.entropy_bins)
        self._ent_sum += float(ent.sum())
        self._reservoir_add(ent, ~correct)

    def _reservoir_add(self, ent: np.ndarray, wrong: np.ndarray) -> None:
        keys = self._rng.random(ent.size)
        if self._keys.size >= self.max_samples:
            # Only pixels whose key beats the current k-th smallest can enter: cheap pre-filter.
            keep = keys < self._keys.max()
            keys, ent, wrong = keys[keep], ent[keep], wrong[keep]
        keys = np.concatenate([self._keys, keys])
        ent = np.concatenate([self._res_entropy, ent.astype(np.float32)])
        wrong = np.concatenate([self._res_wrong, wrong])
        if keys.size > self.max_samples:
            sel = np.argpartition(keys, self.max_samples - 1)[: self.max_samples]
            keys, ent, wrong = keys[sel], ent[sel], wrong[sel]
        self._keys, self._res_entropy, self._res_wrong = keys, ent, wrong

    # -- output --------------------------------------------------------------------------

    def result(self) -> dict[str, Any]:
        """JSON-serialisable summary (see the class docstring). None where undefined."""
        total = int(self._count.sum())
        nonempty = self._count > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            acc = np.where(nonempty, self._correct / np.maximum(self._count, 1), np.nan)
            conf = np.where(nonempty, self._conf_sum / np.maximum(self._count, 1), np.nan)
        gaps = np.abs(acc - conf)
        ece = float(np.nansum(self._count / total * gaps)) if total else None
        mce = float(np.nanmax(gaps)) if nonempty.any() else None

        def listify(a: np.ndarray) -> list[float | None]:
            return [None if math.isnan(v) else float(v) for v in a]

        out: dict[str, Any] = {
            "num_pixels": total,
            "accuracy": float(self._correct.sum() / total) if total else None,
            "mean_confidence": float(self._conf_sum.sum() / total) if total else None,
            "ece": ece,
            "mce": mce,
            "reliability": {
                "bin_edges": np.linspace(0.0, 1.0, self.num_bins + 1).tolist(),
                "accuracy": listify(acc),
                "confidence": listify(conf),
                "count": self._count.tolist(),
            },
            "mean_entropy": None,
            "entropy_histogram": None,
            "auroc_entropy_wrong": None,
            "auroc_samples": 0,
        }
        if not self._has_entropy:
            return out
        out["mean_entropy"] = self._ent_sum / total if total else None
        out["entropy_histogram"] = {
            "bin_edges": np.linspace(0.0, 1.0, self.entropy_bins + 1).tolist(),
            "count": (self._ent_correct + self._ent_wrong).tolist(),
            "count_correct": self._ent_correct.tolist(),
            "count_wrong": self._ent_wrong.tolist(),
        }
        out["auroc_samples"] = int(self._keys.size)
        # AUROC is undefined when the sample holds only right or only wrong pixels.
        if 0 < int(self._res_wrong.sum()) < self._res_wrong.size:
            out["auroc_entropy_wrong"] = auroc(self._res_entropy, self._res_wrong)
        return out


def auroc(scores: Any, positive: Any) -> float:
    """Area under the ROC curve of ``scores`` for the ``positive`` (bool) items: the
    probability that a random positive scores above a random negative, ties counting
    half (Mann-Whitney U over average ranks; equal to the trapezoidal ROC area).

    scores (N,) float, positive (N,) bool with both classes present -> float in [0, 1].
    (Computed here rather than with scikit-learn, whose import alone costs seconds in
    every evaluation process.)
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    positive = np.asarray(positive, dtype=bool).reshape(-1)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if scores.shape != positive.shape or n_pos == 0 or n_neg == 0:
        raise ValueError(f"auroc needs one score per item and both classes, got {scores.size} "
                         f"scores, {n_pos} positive and {n_neg} negative items")
    order = np.argsort(scores, kind="mergesort")
    _, first, counts = np.unique(scores[order], return_index=True, return_counts=True)
    ranks = np.empty(scores.size, dtype=np.float64)
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)  # 1-based, ties averaged
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


class EntropyHistogram:
    """The entropy part of :class:`CalibrationAccumulator` where there is no ground truth
    (unlabelled target images): every pixel counts. :meth:`result` gives ``num_pixels``,
    ``mean_entropy`` and ``entropy_histogram`` (``bin_edges``, ``count``), as the
    accumulator's result does, with ``labelled: false``."""

    def __init__(self, entropy_bins: int = 20) -> None:
        if entropy_bins < 1:
            raise ValueError("entropy_bins must be >= 1")
        self.entropy_bins = int(entropy_bins)
        self._count = np.zeros(self.entropy_bins, dtype=np.int64)
        self._sum = 0.0

    def update(self, entropy: Any) -> None:
        """Add normalised entropy maps (any shape, values in [0, 1])."""
        ent = np.clip(as_numpy(entropy, "entropy").astype(np.float64, copy=False).reshape(-1), 0.0, 1.0)
        bins = np.minimum((ent * self.entropy_bins).astype(np.int64), self.entropy_bins - 1)
        self._count += np.bincount(bins, minlength=self.entropy_bins)
        self._sum += float(ent.sum())

    def result(self) -> dict[str, Any]:
        total = int(self._count.sum())
        return {"num_pixels": total, "labelled": False,
                "mean_entropy": self._sum / total if total else None,
                "entropy_histogram": {"bin_edges": np.linspace(0.0, 1.0, self.entropy_bins + 1).tolist(),
                                      "count": self._count.tolist()}}
