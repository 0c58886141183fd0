"""Class-balanced pseudo-labels (CBST-style) for self-training.

Per class c, keep the ``fraction`` most confident of the pixels predicted as c
(thresholds capped at ``max_threshold``, as FDA does, so a confident pixel is
never dropped just because its class is easy); everything else becomes 255.
Thresholds come from per-class confidence histograms, so memory stays bounded
on Cityscapes-sized target sets.

:func:`pseudo_label_dataset` runs the two passes over a target set (histograms, then
selection) and writes the pseudo-labelled copy as a prepared dataset.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import nn

from advent.data.labels import IGNORE_INDEX, NO_TARGET_LABELS
from advent.data.prepared import PreparedDataset, PreparedWriter
from advent.predict import iterate_predictions

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


class LabelTally:
    """Coverage and accuracy (against the ground truth) of pseudo-labels, summed over
    images: ``update`` with (H, W) or (N, H, W) arrays, 255 = no label."""

    def __init__(self) -> None:
        self.selected = self.total = self.scored = self.correct = 0

    def update(self, labels: np.ndarray, truth: np.ndarray) -> None:
        valid = labels != IGNORE_INDEX
        self.selected += int(valid.sum())
        self.total += valid.size
        scored = valid & (truth != IGNORE_INDEX)
        self.scored += int(scored.sum())
        self.correct += int((scored & (labels == truth)).sum())

    @property
    def coverage(self) -> float:
        return self.selected / max(self.total, 1)

    @property
    def accuracy(self) -> float:
        return self.correct / max(self.scored, 1)

    def result(self, labelled: bool) -> dict[str, float | str]:
        return {"coverage": self.coverage,
                "accuracy": self.accuracy if labelled else NO_TARGET_LABELS}


@dataclass(frozen=True)
class PseudoLabelStats:
    """What a pseudo-labelling pass selected.

    ``thresholds`` (C,) per-class confidence thresholds; ``selected_fraction`` the share
    of target pixels given a label (the coverage); ``pixel_accuracy_of_selected`` their
    accuracy against the target ground truth where it exists (None when the target train
    images have no labels): a diagnostic only, the ground truth never reaches training.
    """

    thresholds: np.ndarray
    selected_fraction: float
    pixel_accuracy_of_selected: float | None


def _confident_predictions(models: Sequence[nn.Module], target: PreparedDataset, device: torch.device,
                           batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                              torch.Tensor, torch.Tensor]]:
    """(images, labels, confidence (N, H, W), predicted class (N, H, W), indices) per batch."""
    for images, labels, logits, index in iterate_predictions(models, target, device, batch_size):
        confidence, predicted = logits.softmax(1).max(1)
        yield images, labels, confidence, predicted, index


def pseudo_label_dataset(models: Sequence[nn.Module], target: PreparedDataset,
                         out: str | os.PathLike, fraction: float, max_threshold: float,
                         device: torch.device, batch_size: int = 16,
                         extra_meta: dict | None = None) -> PseudoLabelStats:
    """Pseudo-label ``target`` with ``models`` (several = the mean of their upsampled
    logits) and write it to ``out`` as a prepared dataset with one split, "train": the
    same images and ids, labels 255 where not selected.

    Two passes over ``target``: the first fills per-class confidence histograms and
    fixes the thresholds (:meth:`ConfidenceHistogram.thresholds` with ``fraction`` and
    ``max_threshold``), the second selects and writes. ``out``'s meta.json gets
    ``pseudo_label``: ``fraction``, ``max_threshold``, the thresholds and
    ``extra_meta`` (e.g. which models labelled it).
    """
    hist = ConfidenceHistogram(target.protocol.num_classes)
    for _, _, confidence, predicted, _ in _confident_predictions(models, target, device, batch_size):
        hist.update(confidence, predicted)
    thresholds = hist.thresholds(fraction, max_threshold)

    tally = LabelTally()
    meta = {**(extra_meta or {}), "fraction": fraction, "max_threshold": max_threshold,
            "thresholds": thresholds.tolist()}
    with PreparedWriter(out, f"pseudo-{target.meta['name']}", target.protocol,
                        target.image_size, extra_meta={"pseudo_label": meta}) as writer:
        for images, labels, confidence, predicted, index in _confident_predictions(
                models, target, device, batch_size):
            pseudo = select_pseudo_labels(confidence, predicted, thresholds)
            tally.update(pseudo.numpy(), labels.numpy())
            for image, label, i in zip(images, pseudo, index):
                writer.add("train", target.ids[int(i)], image.permute(1, 2, 0).numpy(), label.numpy())
    return PseudoLabelStats(thresholds=thresholds, selected_fraction=tally.coverage,
                            pixel_accuracy_of_selected=tally.accuracy if target.labelled else None)


def pseudo_label_metrics(stats: PseudoLabelStats) -> dict[str, dict[str, float | str]]:
    """The DVC metrics of a pseudo-labelling pass, under one key so that ``dvc exp show``
    names its columns ``pseudo_label.coverage`` and ``pseudo_label.accuracy`` (which
    says "no target labels" when there are none to check against)."""
    accuracy = stats.pixel_accuracy_of_selected
    return {"pseudo_label": {"coverage": stats.selected_fraction,
                             "accuracy": NO_TARGET_LABELS if accuracy is None else accuracy}}


def threshold_rows(stats: PseudoLabelStats, class_names: Sequence[str]) -> list[dict]:
    """Per-class thresholds (rounded to 4 decimals) as rows ``{"class", "threshold"}``:
    the data of a DVC bar plot."""
    return [{"class": name, "threshold": t}
            for name, t in zip(class_names, np.round(stats.thresholds, 4).tolist())]
