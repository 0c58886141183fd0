"""What differs between source-only, MinEnt, AdvEnt and self-training.

Each method is an :class:`Objective`: given a source batch (labelled) and, for
adaptation, a target batch (unlabelled), it computes its losses and calls
``backward``. The single training loop in :mod:`advent.train` owns everything
else: devices, precision, optimisers and learning rates, DDP, checkpoints.

One iteration of every method, in the reference code's order::

    objective.backward(segmenter, source, target, backward)   # losses -> .grad
    segmenter optimiser step; then each of objective.modules()'s optimiser steps
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from advent.losses import (
    SOURCE_LABEL, TARGET_LABEL, ClassRatioPrior, EntropyLoss, SegmentationLoss,
    adversarial_loss, self_information, upsample,
)

#: ``backward(loss)``: the loop's backward (scales for fp16, divides for accumulation).
Backward = Callable[[torch.Tensor], None]


@dataclass
class Batch:
    """images (N, 3, H, W) uint8 on the device; labels (N, H, W) int64 or None."""

    images: torch.Tensor
    labels: torch.Tensor | None = None


class Objective(nn.Module):
    """Base: supervised segmentation on the source batch (= the source-only method).

    ``modules()`` lists extra trainable networks (discriminators) that the loop gives
    their own optimiser (Adam) and steps after the segmenter.
    """

    needs_target = False
    #: Whether target batches keep their labels (pseudo-labels for self-training);
    #: for every adaptation method the loop strips them.
    uses_target_labels = False

    def __init__(self, lambda_seg_aux: float = 0.1) -> None:
        super().__init__()
        self.lambda_seg_aux = lambda_seg_aux
        self.seg_loss = SegmentationLoss()

    def modules_to_train(self) -> dict[str, nn.Module]:
        return {}

    def supervised(self, segmenter: nn.Module, batch: Batch, backward: Backward,
                   prefix: str = "source") -> tuple[dict[str, float], tuple[torch.Tensor, torch.Tensor | None]]:
        """Seg loss main + lambda_aux * aux on a labelled batch; backward; returns logs, logits."""
        main, aux = segmenter(batch.images)
        loss = self.seg_loss(main, batch.labels)
        logs = {f"{prefix}/seg_main": loss.item()}
        if aux is not None and self.lambda_seg_aux:
            aux_loss = self.seg_loss(aux, batch.labels)
            logs[f"{prefix}/seg_aux"] = aux_loss.item()
            loss = loss + self.lambda_seg_aux * aux_loss
        backward(loss)
        return logs, (main, aux)

    def backward(self, segmenter: nn.Module, source: Batch, target: Batch | None,
                 backward: Backward) -> dict[str, float]:
        logs, _ = self.supervised(segmenter, source, backward)
        return logs


class SourceOnly(Objective):
    """Supervised training on one labelled domain (source-only baseline, oracle)."""


class MinEnt(Objective):
    """Source seg loss + lambda * mean normalised entropy of target predictions.

    Optional: entropy only over a pixel range (ER), and the class-ratio prior.
    """

    needs_target = True

    def __init__(self, lambda_ent_main: float, lambda_ent_aux: float,
                 entropy_range: tuple[float, float] | None = None,
                 class_prior: ClassRatioPrior | None = None, lambda_cp: float = 0.0,
                 lambda_seg_aux: float = 0.1) -> None:
        super().__init__(lambda_seg_aux)
        self.lambda_ent_main = lambda_ent_main
        self.lambda_ent_aux = lambda_ent_aux
        self.entropy = EntropyLoss(entropy_range)
        self.class_prior = class_prior
        self.lambda_cp = lambda_cp

    def backward(self, segmenter, source, target, backward):
        logs, _ = self.supervised(segmenter, source, backward)
        main, aux = segmenter(target.images)
        size = target.images.shape[-2:]
        main, aux = upsample(main, size), (upsample(aux, size) if aux is not None else None)
        ent = self.entropy(main)
        loss = self.lambda_ent_main * ent
        logs["target/entropy_main"] = ent.item()
        if aux is not None and self.lambda_ent_aux:
            ent_aux = self.entropy(aux)
            loss = loss + self.lambda_ent_aux * ent_aux
            logs["target/entropy_aux"] = ent_aux.item()
        if self.class_prior is not None and self.lambda_cp:
            cp = self.class_prior(main)
            loss = loss + self.lambda_cp * cp
            logs["target/class_prior"] = cp.item()
        backward(loss)
        return logs


class AdvEnt(Objective):
    """Adversarial entropy minimisation: a discriminator per output level looks at
    self-information maps; the segmenter learns to make target maps look like source.

    Iteration (official order): source seg loss -> target adversarial loss through
    the frozen discriminators (target maps labelled *source*) -> discriminators on
    detached source maps (label source) and target maps (label target), each / 2.
    """

    needs_target = True

    def __init__(self, d_main: nn.Module, d_aux: nn.Module | None, lambda_adv_main: float,
                 lambda_adv_aux: float, class_prior: ClassRatioPrior | None = None,
                 lambda_cp: float = 0.0, lambda_seg_aux: float = 0.1) -> None:
        super().__init__(lambda_seg_aux)
        self.d_main = d_main
        self.d_aux = d_aux
        self.lambda_adv_main = lambda_adv_main
        self.lambda_adv_aux = lambda_adv_aux
        self.class_prior = class_prior
        self.lambda_cp = lambda_cp

    def modules_to_train(self) -> dict[str, nn.Module]:
        mods = {"d_main": self.d_main}
        if self.d_aux is not None:
            mods["d_aux"] = self.d_aux
        return mods

    def _levels(self, logits: tuple[torch.Tensor, torch.Tensor | None], size) -> list[tuple[str, torch.Tensor, nn.Module, float]]:
        main, aux = logits
        levels = [("main", upsample(main, size), self.d_main, self.lambda_adv_main)]
        if aux is not None and self.d_aux is not None:
            levels.append(("aux", upsample(aux, size), self.d_aux, self.lambda_adv_aux))
        return levels

    def backward(self, segmenter, source, target, backward):
        discriminators = list(self.modules_to_train().values())
        for d in discriminators:
            d.requires_grad_(False)
        logs, source_logits = self.supervised(segmenter, source, backward)
        target_logits = segmenter(target.images)
        size = target.images.shape[-2:]
        loss = 0.0
        target_levels = self._levels(target_logits, size)
        for name, logits, d, weight in target_levels:
            fool = adversarial_loss(d(self_information(logits.softmax(1))), SOURCE_LABEL)
            logs[f"target/adv_{name}"] = fool.item()
            loss = loss + weight * fool
        if self.class_prior is not None and self.lambda_cp:
            cp = self.class_prior(target_levels[0][1])
            loss = loss + self.lambda_cp * cp
            logs["target/class_prior"] = cp.item()
        backward(loss)

        for d in discriminators:
            d.requires_grad_(True)
        d_loss = 0.0
        for (name, src, d, _), (_, trg, _, _) in zip(
                self._levels(source_logits, source.images.shape[-2:]), target_levels):
            d_src = adversarial_loss(d(self_information(src.detach().softmax(1))), SOURCE_LABEL)
            d_trg = adversarial_loss(d(self_information(trg.detach().softmax(1))), TARGET_LABEL)
            logs[f"disc/{name}"] = (d_src.item() + d_trg.item()) / 2
            d_loss = d_loss + d_src / 2 + d_trg / 2
        backward(d_loss)
        return logs


class SelfTraining(Objective):
    """lambda_source * source seg loss + lambda_target * seg loss on pseudo-labelled
    target (255 = ignored). ``lambda_source = 0`` trains on the pseudo-labels alone
    (the source batch is then not even forwarded)."""

    needs_target = True
    uses_target_labels = True

    def __init__(self, lambda_target: float = 1.0, lambda_seg_aux: float = 0.1,
                 lambda_source: float = 1.0) -> None:
        super().__init__(lambda_seg_aux)
        self.lambda_target = lambda_target
        self.lambda_source = lambda_source

    def backward(self, segmenter, source, target, backward):
        logs = {}
        if self.lambda_source:
            weighted_source = lambda loss: backward(self.lambda_source * loss)  # noqa: E731
            logs, _ = self.supervised(segmenter, source, weighted_source)
        weighted = lambda loss: backward(self.lambda_target * loss)  # noqa: E731
        target_logs, _ = self.supervised(segmenter, target, weighted, prefix="pseudo")
        logs.update(target_logs)
        return logs
