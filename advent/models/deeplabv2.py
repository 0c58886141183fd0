"""DeepLab-V2 with a dilated ResNet backbone, as in ADVENT.

One class serves both scales: ``resnet101`` (the paper's network, whose state_dict
uses the official checkpoint names ``conv1, bn1, layer1..layer4, layer5 (aux head),
layer6 (main head)``) and ``resnet_tiny`` (same shape, narrow and shallow, for the
CPU-sized embedded benchmark).
"""
from __future__ import annotations

import torch
from torch import nn


class Bottleneck(nn.Module):
    """Caffe-style bottleneck: the stride sits on the first 1x1 conv (as in DeepLab)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ASPPClassifier(nn.Module):
    """ASPP-L head: parallel dilated 3x3 convs whose outputs are summed.

    (N, in_channels, h, w) -> (N, num_classes, h, w). Weights N(0, 0.01), as the paper.
    """

    def __init__(self, in_channels: int, num_classes: int,
                 dilations: tuple[int, ...] = (6, 12, 18, 24)) -> None:
        super().__init__()
        self.conv2d_list = nn.ModuleList(
            nn.Conv2d(in_channels, num_classes, 3, padding=d, dilation=d, bias=True)
            for d in dilations
        )
        for conv in self.conv2d_list:
            nn.init.normal_(conv.weight, 0.0, 0.01)
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2d_list[0](x)
        for conv in self.conv2d_list[1:]:
            out = out + conv(x)
        return out


class DeepLabV2ResNet(nn.Module):
    """Dilated ResNet (output stride 8) + ASPP-L heads.

    Input (N, 3, H, W) normalised float; returns ``(main, aux)`` logits at
    (N, C, h, w); ``aux`` (from layer3) is None unless ``multi_level``.
    The size is not ceil(H/8): conv1 gives h1 = floor((H-1)/2)+1, the ceil-mode maxpool
    h2 = ceil((h1-1)/2)+1, layer2 h = floor((h2-1)/2)+1; e.g. 512 -> 65, 720 -> 91,
    1024 -> 129, 65 -> 9 (the official network's sizes).
    Note the order differs from the official ``ResNetMulti.forward``, which returns
    ``(aux, main)``.
    """

    def __init__(self, num_classes: int, layers: tuple[int, int, int, int] = (3, 4, 23, 3),
                 base_width: int = 64, multi_level: bool = True,
                 aspp_dilations: tuple[int, ...] = (6, 12, 18, 24),
                 freeze_bn_affine: bool = True) -> None:
        super().__init__()
        self.multi_level = multi_level
        self.inplanes = base_width
        self.conv1 = nn.Conv2d(3, base_width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
        self.layer1 = self._make_layer(base_width, layers[0])
        self.layer2 = self._make_layer(base_width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(base_width * 4, layers[2], dilation=2)
        self.layer4 = self._make_layer(base_width * 8, layers[3], dilation=4)
        e = Bottleneck.expansion
        self.layer5 = ASPPClassifier(base_width * 4 * e, num_classes, aspp_dilations) if multi_level else None
        self.layer6 = ASPPClassifier(base_width * 8 * e, num_classes, aspp_dilations)
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and not any(m is c for h in self.heads() for c in h.conv2d_list):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if freeze_bn_affine:
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.weight.requires_grad_(False)
                    m.bias.requires_grad_(False)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
        out = planes * Bottleneck.expansion
        downsample = None
        if stride != 1 or self.inplanes != out or dilation in (2, 4):
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
        layers = [Bottleneck(self.inplanes, planes, stride, dilation, downsample)]
        self.inplanes = out
        layers += [Bottleneck(out, planes, dilation=dilation) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def heads(self) -> list[ASPPClassifier]:
        return [h for h in (self.layer5, self.layer6) if h is not None]

    def head_parameters(self) -> list[nn.Parameter]:
        """Classifier parameters (trained at 10x the backbone learning rate)."""
        return [p for h in self.heads() for p in h.parameters()]

    def backbone_parameters(self) -> list[nn.Parameter]:
        head_ids = {id(p) for p in self.head_parameters()}
        return [p for p in self.parameters() if id(p) not in head_ids]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        x3 = self.layer3(x)
        main = self.layer6(self.layer4(x3))
        aux = self.layer5(x3) if self.layer5 is not None else None
        return main, aux
