"""Entropy ranking of target train and its easy / hard split (IntraDA, Pan et al. CVPR 2020).

One pass over target train with the scoring model(s) (several = the mean of their
upsampled logits): per image its score, the mean normalised entropy (pixel entropy
/ log C, averaged over the pixels; optionally times IntraDA's rare-class factor), and
its argmax prediction with its max-softmax confidence, kept in a scratch folder (the
system's temporary folder) so memory stays bounded on Cityscapes-sized sets. Then the
images are sorted by score (ties by id) and split: easy = the ``floor(easy_fraction *
N)`` lowest scores, as IntraDA; hard = the rest.

The ranked dataset (:func:`rank_dataset`) is a prepared dataset with two splits:
"easy", the easy images with their pseudo-labels (``argmax``: every pixel, IntraDA's;
or ``class_balanced``: advent.pseudo's selection, thresholds from the easy images), and
"hard", the hard images without labels. Both label kinds, and the scoring model's mIoU
on each split, are scored against the target train ground truth when it exists: a
diagnostic only (how much harder the hard split is: the room intra-domain adaptation
has), it never reaches training.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from advent.data.labels import IGNORE_INDEX, NO_TARGET_LABELS, Protocol
from advent.data.prepared import PreparedDataset, PreparedWriter
from advent.losses import self_information
from advent.metrics import ConfusionMatrix, summarize
from advent.params import RankParams
from advent.predict import ensemble_logits, iterate_predictions
from advent.pseudo import BINS, ConfidenceHistogram, LabelTally, select_pseudo_labels

#: IntraDA's rare Cityscapes classes (their normaliser counts those an image predicts).
RARE_CLASSES = ("wall", "fence", "pole", "traffic light", "traffic sign", "terrain", "rider",
                "truck", "bus", "train", "motorcycle")
#: The label kinds a ranking compares on the easy split.
LABEL_KINDS = ("argmax", "class_balanced")


def normalised_entropy(probs: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) softmax probabilities -> (N, H, W) entropy / log C, in [0, 1]: the
    self-information maps of the losses, summed over classes (as ``entropy_map``, which
    takes logits; here the probabilities serve the labels too)."""
    return self_information(probs).sum(1)


def rare_class_ids(protocol: Protocol) -> list[int]:
    """Train ids of :data:`RARE_CLASSES` in ``protocol``; ValueError when it has none
    (the normaliser is defined for Cityscapes-named classes only)."""
    ids = [i for i, name in enumerate(protocol.class_names) if name in RARE_CLASSES]
    if not ids:
        raise ValueError(f"rank.rare_class_normaliser: protocol {protocol.name} has none of "
                         f"IntraDA's rare classes {list(RARE_CLASSES)}; set it to false")
    return ids


def rare_class_factor(predicted: torch.Tensor, rare_ids: Sequence[int]) -> float:
    """IntraDA's factor, (R - k) / R + 0.5 for the k of the R rare classes that the (H, W)
    prediction contains: an image showing more rare classes ranks as easier."""
    present = torch.unique(predicted).tolist()
    k = len(set(present) & set(rare_ids))
    return (len(rare_ids) - k) / len(rare_ids) + 0.5


def easy_count(n: int, easy_fraction: float) -> int:
    """Images in the easy split, ``floor(easy_fraction * n)``; ValueError naming the key and
    the image count when either split would be empty."""
    n_easy = int(n * easy_fraction)
    if not 0 < n_easy < n:
        empty = "easy" if n_easy == 0 else "hard"
        raise ValueError(f"rank.easy_fraction {easy_fraction} leaves the {empty} split empty "
                         f"with {n} target-train images (easy = floor({easy_fraction} x {n}) = "
                         f"{n_easy}); it must keep at least one image in each split")
    return n_easy


@dataclass(frozen=True)
class Ranking:
    """Images by ascending score: ``ids`` and ``scores`` aligned, ``indices`` into the
    target split; the first ``n_easy`` form the easy split."""

    ids: list[str]
    scores: list[float]
    indices: list[int]
    n_easy: int

    @property
    def easy(self) -> list[int]:
        return self.indices[: self.n_easy]

    @property
    def hard(self) -> list[int]:
        return self.indices[self.n_easy:]

    def record(self) -> list[dict]:
        """[{"id", "score", "split"}] in rank order (the ranking file's rows)."""
        return [{"id": i, "score": s, "split": "easy" if k < self.n_easy else "hard"}
                for k, (i, s) in enumerate(zip(self.ids, self.scores))]


def sort_scores(ids: Sequence[str], scores: Sequence[float], easy_fraction: float) -> Ranking:
    """Rank images by score (ties by id, so the order is reproducible) and split."""
    order = sorted(range(len(ids)), key=lambda i: (scores[i], ids[i]))
    return Ranking(ids=[ids[i] for i in order], scores=[float(scores[i]) for i in order],
                   indices=order, n_easy=easy_count(len(ids), easy_fraction))


def score_images(models: Sequence[nn.Module], target: PreparedDataset, scratch: Path,
                 device: torch.device, batch_size: int, rare_ids: Sequence[int] | None
                 ) -> np.ndarray:
    """(N,) scores of every image of ``target``; writes ``scratch/<index>.npy``, (2, H, W)
    uint16: argmax class and confidence bin (advent.pseudo's :data:`BINS`)."""
    scores = np.zeros(len(target), dtype=np.float64)
    for _, _, logits, index in iterate_predictions(models, target, device, batch_size):
        probs = logits.softmax(1)
        per_image = normalised_entropy(probs).flatten(1).mean(1)
        confidence, predicted = probs.max(1)
        bins = (confidence.clamp(0, 1) * BINS).long().clamp_max(BINS - 1)
        for j, i in enumerate(index.tolist()):
            factor = rare_class_factor(predicted[j], rare_ids) if rare_ids else 1.0
            scores[i] = float(per_image[j]) * factor
            np.save(scratch / f"{i}.npy", torch.stack([predicted[j], bins[j]]).numpy().astype(np.uint16))
    return scores


def _stored(scratch: Path, index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(confidence (H, W) at its bin's centre, predicted (H, W) int64) of image ``index``."""
    stored = torch.from_numpy(np.load(scratch / f"{index}.npy").astype(np.int64))
    return (stored[1].double() + 0.5) / BINS, stored[0]


@dataclass(frozen=True)
class RankResult:
    """A ranking, the class-balanced thresholds of its easy split, per label kind the
    coverage and accuracy of the easy split's pseudo-labels, and per split the scoring
    model's mIoU (%, or "no target labels")."""

    ranking: Ranking
    thresholds: np.ndarray
    labels: dict[str, dict[str, float | str]]
    split_miou: dict[str, float | str | None]

    def metrics(self) -> dict:
        """The DVC metrics, under one key (``dvc exp show``: ``rank.argmax.accuracy``)."""
        r = self.ranking
        split = {name: {"images": len(part), "mean_score": float(np.mean(scores)),
                        "mIoU": self.split_miou[name]}
                 for name, part, scores in (("easy", r.easy, r.scores[: r.n_easy]),
                                            ("hard", r.hard, r.scores[r.n_easy:]))}
        return {"rank": {**split, **self.labels}}


def rank_dataset(models: Sequence[nn.Module], target: PreparedDataset, out: str | os.PathLike,
                 cfg: RankParams, device: torch.device, extra_meta: dict | None = None) -> RankResult:
    """Score, rank and split ``target`` (see the module docstring) and write the ranked
    dataset to ``out``; ``out``'s meta.json gets ``ranking``: the settings, the thresholds
    and ``extra_meta`` (e.g. which models scored it)."""
    rare_ids = rare_class_ids(target.protocol) if cfg.rare_class_normaliser else None
    easy_count(len(target), cfg.easy_fraction)  # refuse before the costly pass
    with tempfile.TemporaryDirectory(prefix="advent-rank-") as tmp:
        scratch = Path(tmp)
        scores = score_images(models, target, scratch, device, cfg.batch_size, rare_ids)
        ranking = sort_scores(target.ids, scores.tolist(), cfg.easy_fraction)
        hist = ConfidenceHistogram(target.protocol.num_classes)
        for i in ranking.easy:
            hist.update(*_stored(scratch, i))
        thresholds = hist.thresholds(cfg.fraction, cfg.max_threshold)
        tallies = {kind: LabelTally() for kind in LABEL_KINDS}
        confusion = {split: ConfusionMatrix(target.protocol.num_classes) for split in ("easy", "hard")}
        meta = {**(extra_meta or {}), "easy_fraction": cfg.easy_fraction, "labels": cfg.labels,
                "rare_class_normaliser": cfg.rare_class_normaliser, "fraction": cfg.fraction,
                "max_threshold": cfg.max_threshold, "thresholds": thresholds.tolist()}
        with PreparedWriter(out, f"ranked-{target.meta['name']}", target.protocol,
                            target.image_size, extra_meta={"ranking": meta},
                            unlabelled=["hard"]) as writer:
            for i in ranking.easy:
                image, truth = target.read_arrays(i)
                confidence, predicted = _stored(scratch, i)
                kinds = {"argmax": predicted.numpy().astype(np.uint8),
                         "class_balanced": select_pseudo_labels(confidence, predicted,
                                                                thresholds).numpy()}
                for kind, labels in kinds.items():
                    tallies[kind].update(labels, truth)
                confusion["easy"].update(predicted, truth)
                writer.add("easy", target.ids[i], image, kinds[cfg.labels])
            for i in ranking.hard:
                image, truth = target.read_arrays(i)
                confusion["hard"].update(_stored(scratch, i)[1], truth)
                writer.add("hard", target.ids[i], image,
                           np.full(image.shape[:2], IGNORE_INDEX, dtype=np.uint8))
    split_miou = {split: summarize(m.matrix, target.protocol)["mIoU"] if target.labelled
                  else NO_TARGET_LABELS for split, m in confusion.items()}
    return RankResult(ranking, thresholds,
                      {kind: t.result(target.labelled) for kind, t in tallies.items()}, split_miou)


@torch.no_grad()
def entropy_examples(models: Sequence[nn.Module], target: PreparedDataset, ranking: Ranking,
                     count: int, device: torch.device) -> list[dict]:
    """The ``count`` easiest and ``count`` hardest images (fewer when the splits are
    smaller), each ``{"id", "score", "split", "image" (H, W, 3) uint8, "entropy" (H, W)}``."""
    r = ranking
    chosen = list(range(min(count, r.n_easy))) + list(
        range(max(r.n_easy, len(r.ids) - count), len(r.ids)))
    examples = []
    for k in chosen:
        image, _ = target.read_arrays(r.indices[k])
        batch = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].to(device)
        entropy = normalised_entropy(ensemble_logits(models, batch).softmax(1))[0]
        examples.append({"id": r.ids[k], "score": r.scores[k],
                         "split": "easy" if k < r.n_easy else "hard",
                         "image": image, "entropy": entropy.cpu().numpy()})
    return examples
