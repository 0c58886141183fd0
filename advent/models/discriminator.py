"""Fully convolutional domain discriminator on self-information maps (AdvEnt)."""
from __future__ import annotations

import torch
from torch import nn


class Discriminator(nn.Module):
    """5 convs 4x4 stride 2 pad 1, C -> ndf -> 2ndf -> 4ndf -> 8ndf -> 1, LeakyReLU(0.2).

    (N, C, h, w) self-information maps -> (N, 1, h/32, w/32) logits (a patch map);
    no normalisation layers, as in the official code. ``num_layers`` below 5 keeps the
    patch map non-empty on the small maps of the embedded benchmark.
    """

    def __init__(self, num_classes: int, ndf: int = 64, num_layers: int = 5) -> None:
        super().__init__()
        if num_layers < 2:
            raise ValueError(f"a discriminator needs at least 2 layers, got {num_layers}")
        layers: list[nn.Module] = []
        channels = num_classes
        for i in range(num_layers - 1):
            out = ndf * 2 ** i
            layers += [nn.Conv2d(channels, out, 4, stride=2, padding=1),
                       nn.LeakyReLU(0.2, inplace=True)]
            channels = out
        layers.append(nn.Conv2d(channels, 1, 4, stride=2, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
