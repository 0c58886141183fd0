"""Networks small enough to compute their losses and gradients by hand (float64).

A segmenter and a discriminator that are single 1x1 convolutions with weights the test
sets, so every logit is an affine function of one pixel and nothing is upsampled.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset

DTYPE = torch.float64


def conv1x1(weight: list[list[float]], bias: list[float]) -> nn.Conv2d:
    """A 1x1 convolution with the given (out, in) weight and (out,) bias, in float64."""
    w = torch.tensor(weight, dtype=DTYPE)
    conv = nn.Conv2d(w.shape[1], w.shape[0], 1, dtype=DTYPE)
    with torch.no_grad():
        conv.weight.copy_(w.view(*w.shape, 1, 1))
        conv.bias.copy_(torch.tensor(bias, dtype=DTYPE))
    return conv


class PixelSegmenter(nn.Module):
    """images (N, 3, H, W) uint8 -> (main, aux) float64 logits (N, C, H, W) of ``x / 255``.

    ``main`` and ``aux`` are (weight (C, 3), bias (C,)); ``aux=None`` gives a single-level
    network. ``dropout`` > 0 drops input pixels at random (from torch's global RNG) while
    training. Every forward appends its (main, aux) to ``outputs`` with ``retain_grad()``,
    so a test reads the gradient that each loss sent to the logits of each call.
    """

    def __init__(self, main: tuple[list[list[float]], list[float]],
                 aux: tuple[list[list[float]], list[float]] | None = None,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.main = conv1x1(*main)
        self.aux = conv1x1(*aux) if aux is not None else None
        self.dropout = nn.Dropout(dropout)
        self.outputs: list[tuple[torch.Tensor, torch.Tensor | None]] = []

    def param_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(backbone, heads) as :meth:`advent.models.Segmenter.param_groups`: main, aux."""
        return list(self.main.parameters()), list(self.aux.parameters()) if self.aux else []

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = self.dropout(images.to(DTYPE) / 255)
        main = self.main(x)
        aux = self.aux(x) if self.aux is not None else None
        for t in (main, aux):
            if t is not None and t.requires_grad:
                t.retain_grad()
        self.outputs.append((main, aux))
        return main, aux


class Images(Dataset):
    """In-memory (image uint8 (3, H, W), label int64 (H, W), index) samples."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.images[i], self.labels[i], i
