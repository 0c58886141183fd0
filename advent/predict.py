"""Inference: full-resolution logits of one model or an ensemble."""
from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from advent.losses import upsample


@torch.no_grad()
def ensemble_logits(models: Sequence[nn.Module], images: torch.Tensor,
                    weights: Sequence[float] | None = None,
                    size: tuple[int, int] | None = None) -> torch.Tensor:
    """Weighted mean of the models' main logits, each upsampled to ``size`` first.

    images (N, 3, H, W) uint8 -> (N, C, *size) float; ``size`` defaults to (H, W).
    One model is the plain case; AdvEnt+MinEnt is two with equal weights.
    """
    size = tuple(size or images.shape[-2:])
    weights = list(weights) if weights is not None else [1.0] * len(models)
    if len(weights) != len(models) or not models:
        raise ValueError(f"{len(models)} models but {len(weights)} ensemble weights")
    total = None
    for model, w in zip(models, weights):
        main, _ = model(images)
        logits = upsample(main.float(), size) * (w / sum(weights))
        total = logits if total is None else total + logits
    return total


def iterate_predictions(models: Sequence[nn.Module], dataset: Dataset, device: torch.device,
                        batch_size: int = 8, weights: Sequence[float] | None = None,
                        workers: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Yield (images uint8, labels, logits at label resolution, sample indices) per batch, on CPU."""
    for m in models:
        m.to(device).eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    for images, labels, index in loader:
        logits = ensemble_logits(models, images.to(device), weights, tuple(labels.shape[-2:]))
        yield images, labels, logits.cpu(), index


def confusion_matrix_of(models: Sequence[nn.Module], dataset: Dataset, device: torch.device,
                        num_classes: int, batch_size: int = 8,
                        weights: Sequence[float] | None = None):
    """(C, C) int64 confusion matrix (rows = ground truth) of a model or ensemble on ``dataset``."""
    from advent.metrics import ConfusionMatrix

    confusion = ConfusionMatrix(num_classes)
    for _, labels, logits, _ in iterate_predictions(models, dataset, device, batch_size, weights):
        confusion.update(logits.argmax(1), labels)
    return confusion.matrix


def has_batchnorm(model: nn.Module) -> bool:
    """Whether ``model`` has a BatchNorm layer (VGG-16 has none)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@torch.no_grad()
def reestimate_bn_statistics(model: nn.Module, dataset: Dataset, device: torch.device,
                             batch_size: int = 16) -> nn.Module:
    """A copy of ``model`` whose BatchNorm running statistics are the average over
    ``dataset``'s batches (every batch weighted equally), weights untouched; in eval mode.

    On target images this is AdaBN (Li et al., 2016): the pipeline's ``adabn`` stage, and
    ``scripts/bn_statistics_check.py``, which asks how much of a model's target score
    hangs on the statistics its BN layers apply. ValueError when it has no BN layer
    (:func:`has_batchnorm`).
    """
    import copy

    model = copy.deepcopy(model).to(device)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        raise ValueError("the model has no BatchNorm layer whose statistics could be re-estimated")
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
    model.train()
    for images, _, _ in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        model(images.to(device))
    return model.eval()
