"""ADVENT's losses as small modules, with the official code's conventions.

Shapes: N batch, C classes, H x W pixels. "Logits" are raw segmenter outputs.
Entropies are normalised by log C, so they lie in [0, 1] whatever the class count.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from advent.data.labels import IGNORE_INDEX

#: Added inside logarithms, as the official code.
EPS = 1e-30

#: Domain labels of the adversarial game (official code: source 0, target 1).
SOURCE_LABEL = 0.0
TARGET_LABEL = 1.0


def self_information(prob: torch.Tensor) -> torch.Tensor:
    """Weighted self-information I = -P log P / log C.

    prob (N, C, H, W) softmax probabilities -> (N, C, H, W), each entry in [0, 1/e/log C].
    """
    c = prob.shape[1]
    return -prob * torch.log(prob + EPS) / math.log(c)


def entropy_map(logits: torch.Tensor) -> torch.Tensor:
    """Normalised Shannon entropy per pixel: (N, C, H, W) logits -> (N, H, W) in [0, 1]."""
    return self_information(F.softmax(logits, dim=1)).sum(dim=1)


class EntropyLoss(nn.Module):
    """MinEnt: mean normalised entropy of the predictions.

    With ``pixel_range=(lo, hi)`` only pixels whose entropy rank (highest first) falls
    in that fraction of each image count ("ER" in the paper; ``(0.0, 0.3)`` = the 30%
    most uncertain pixels). ``None`` uses every pixel, as the official code.

    logits (N, C, H, W) -> scalar.
    """

    def __init__(self, pixel_range: tuple[float, float] | None = None) -> None:
        super().__init__()
        if pixel_range is not None:
            lo, hi = pixel_range
            if not 0.0 <= lo < hi <= 1.0:
                raise ValueError(f"entropy pixel range must satisfy 0 <= lo < hi <= 1, got {pixel_range}")
        self.pixel_range = pixel_range

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        ent = entropy_map(logits)
        if self.pixel_range is None:
            return ent.mean()
        flat = ent.flatten(1)  # (N, HW)
        n = flat.shape[1]
        lo = int(math.floor(self.pixel_range[0] * n))
        hi = max(lo + 1, int(math.ceil(self.pixel_range[1] * n)))
        ranked = flat.sort(dim=1, descending=True).values[:, lo:hi]
        return ranked.mean()


class SegmentationLoss(nn.Module):
    """Cross-entropy on logits bilinearly upsampled to the label size, ignore 255.

    logits (N, C, h, w), labels (N, H, W) int64 -> scalar (mean over valid pixels;
    0 when a batch has no valid pixel, so a fully ignored pseudo-label costs nothing).
    """

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = upsample(logits, labels.shape[-2:])
        if not (labels != IGNORE_INDEX).any():
            return logits.sum() * 0.0
        return F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX)


def adversarial_loss(d_logits: torch.Tensor, domain_label: float) -> torch.Tensor:
    """BCE-with-logits of a discriminator patch map against a constant domain label.

    d_logits (N, 1, h, w) -> scalar.
    """
    return F.binary_cross_entropy_with_logits(d_logits, torch.full_like(d_logits, domain_label))


class ClassRatioPrior(nn.Module):
    """Class-ratio prior: L = sum_c max(0, mu * p_s(c) - mean_hw P_t(c)).

    Penalises target predictions that give a class much less mass than its share
    in the source labels. ``source_hist`` (C,) pixel counts, L1-normalised here.

    logits (N, C, H, W) -> scalar (averaged over the batch).
    """

    def __init__(self, source_hist: torch.Tensor, mu: float = 0.5) -> None:
        super().__init__()
        hist = torch.as_tensor(source_hist, dtype=torch.float64)
        if hist.ndim != 1 or hist.sum() <= 0:
            raise ValueError("class-ratio prior needs a non-empty (C,) source histogram")
        self.register_buffer("prior", (hist / hist.sum()).float())
        self.mu = mu

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        if logits.shape[1] != self.prior.numel():
            raise ValueError(f"class-ratio prior has {self.prior.numel()} classes, "
                             f"logits have {logits.shape[1]}")
        mean_prob = F.softmax(logits, dim=1).mean(dim=(2, 3))  # (N, C)
        return F.relu(self.mu * self.prior - mean_prob).sum(dim=1).mean()


def upsample(logits: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """Bilinear upsampling of (N, C, h, w) to (N, C, *size), align_corners=True (official)."""
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=True)
