"""Class-balanced pseudo-labels (CBST-style) for self-training.

Per class c, keep the ``fraction`` most confident of the pixels predicted as c
(thresholds capped at ``max_threshold``, as FDA does, so a confident pixel is
never dropped just because its class is easy); everything else becomes 255.
Thresholds come from per-class confidence histograms, so memory stays bounded
on Cityscapes-sized target sets.
"""
from __future__ import annotations

import numpy as np
import torch

from advent.data.labels import IGNORE_INDEX

BINS = 1000


class ConfidenceHistogram:
    """Per-class histogram of max-softmax confidence over [0, 1]: (C, BINS) counts."""

    def __init__(self, num_classes: int) -> None:
        self.counts = np.zeros((num_classes, BINS), dtype=np.int64)

    def update(self, confidence: torch.Tensor, predicted: torch.Tensor) -> None:
        """confidence (N, H, W) float in [0, 1]; predicted (N, H, W) int class ids."""
        c = self.counts.shape[0]
        bins = (confidence.clamp(0, 1) * BINS).long().clamp_max(BINS - 1)
        flat = (predicted.long() * BINS + bins).flatten().numpy()
        self.counts += np.bincount(flat, minlength=c * BINS).reshape(c, BINS)

    def thresholds(self, fraction: float, max_threshold: float) -> np.ndarray:
        """(C,) per-class thresholds keeping ~``fraction`` of each class's pixels.

        A class never predicted gets ``max_threshold`` (nothing to keep anyway).
        """
        out = np.full(self.counts.shape[0], max_threshold, dtype=np.float64)
        for c, hist in enumerate(self.counts):
            total = hist.sum()
            if total == 0:
                continue
            # Pixels at or above bin b: reverse cumulative sum.
            above = np.cumsum(hist[::-1])[::-1]
            keep = np.nonzero(above >= fraction * total)[0]
            lower_edge = keep.max() / BINS if len(keep) else 0.0
            out[c] = min(lower_edge, max_threshold)
        return out


def select_pseudo_labels(confidence: torch.Tensor, predicted: torch.Tensor,
                         thresholds: np.ndarray) -> torch.Tensor:
    """(N, H, W) confidence and predictions -> (N, H, W) uint8 labels, 255 where below
    the class threshold."""
    t = torch.as_tensor(thresholds, dtype=confidence.dtype)[predicted.long()]
    labels = predicted.to(torch.uint8).clone()
    labels[confidence < t] = IGNORE_INDEX
    return labels
