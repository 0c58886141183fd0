"""DeepLab-V2 with a dilated VGG-16 backbone (single level), as in ADVENT's VGG results.

The paper gives no code for it; this follows the DeepLab-V2 VGG recipe the reference
page describes (the layout AdaptSegNet-derived code also uses):

* VGG-16 conv1_1 .. conv5_3 with pool1..pool3 (2x2, stride 2), **pool4 and pool5 removed**,
  conv5_x dilated by 2: the features stay at output stride 8;
* fc6 and fc7 as 3x3 convs with 1024 channels, dilation 4 (both), each followed by ReLU
  (no dropout);
* the ASPP-L classifier of :mod:`advent.models.deeplabv2` (dilations 6/12/18/24, summed).

State_dict layout (kept compatible with AdaptSegNet-style VGG checkpoints):
``features.{0..28}`` = torchvision's ``features`` with pool4 (index 23) dropped, so
torchvision's conv5 indices 24/26/28 become 23/25/27 here; ``features.29`` = fc6,
``features.31`` = fc7; ``classifier.conv2d_list.{0..3}`` = the ASPP head.
See :func:`torchvision_vgg16_key_map` for the ImageNet mapping.
"""
from __future__ import annotations

import torch
from torch import nn

from advent.models.deeplabv2 import ASPPClassifier

#: VGG-16 configuration as torchvision numbers its ``features``: channel counts, "M" = 2x2 max-pool.
_VGG16_CFG: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                                     512, 512, 512, "M", 512, 512, 512, "M")
#: torchvision ``features`` index of pool4 (dropped here, so later indices shift by one).
_TV_POOL4 = 23


def torchvision_vgg16_key_map() -> dict[str, str]:
    """torchvision VGG-16 ``features.*`` key -> key of :class:`DeepLabV2VGG`.

    Only the 13 conv layers (weight and bias each, 26 keys); torchvision's ``classifier.*``
    (fully connected fc6/fc7/fc8, incompatible shapes) has no counterpart and is skipped.
    """
    mapping: dict[str, str] = {}
    tv_index = 0
    for item in _VGG16_CFG:
        if item != "M":
            ours = tv_index if tv_index < _TV_POOL4 else tv_index - 1
            for name in ("weight", "bias"):
                mapping[f"features.{tv_index}.{name}"] = f"features.{ours}.{name}"
            tv_index += 2  # conv + ReLU
        else:
            tv_index += 1
    return mapping


class DeepLabV2VGG(nn.Module):
    """Dilated VGG-16 (output stride 8) + fc6/fc7 convs + one ASPP-L head.

    Input (N, 3, H, W) normalised float; returns ``(main, None)`` with main logits at
    (N, C, floor(H/8), floor(W/8)) (three floor-mode 2x2 pools), the same ``(main, aux)``
    convention as :class:`~advent.models.deeplabv2.DeepLabV2ResNet`. Single level: there is
    no auxiliary head, ``multi_level`` is always False.

    ``fc_dilation`` applies to both fc6 and fc7 (padding = dilation keeps the size).
    ``width_div`` divides every channel count (1 = the paper's network; >1 only for
    small smoke tests).
    """

    multi_level = False

    def __init__(self, num_classes: int, aspp_dilations: tuple[int, ...] = (6, 12, 18, 24),
                 fc_dilation: int = 4, width_div: int = 1) -> None:
        super().__init__()
        if width_div < 1:
            raise ValueError(f"width_div must be >= 1, got {width_div}")
        layers: list[nn.Module] = []
        in_ch, conv_seen = 3, 0
        for item in _VGG16_CFG:
            if item == "M":
                # Keep pool1..pool3 only (they follow conv 2, 4 and 7): stride 8.
                if conv_seen < 10:
                    layers.append(nn.MaxPool2d(2, stride=2))
                continue
            conv_seen += 1
            out_ch = max(1, int(item) // width_div)
            dilation = 2 if conv_seen > 10 else 1  # conv5_1..conv5_3
            layers += [nn.Conv2d(in_ch, out_ch, 3, padding=dilation, dilation=dilation),
                       nn.ReLU(inplace=True)]
            in_ch = out_ch
        fc_ch = max(1, 1024 // width_div)
        layers += [nn.Conv2d(in_ch, fc_ch, 3, padding=fc_dilation, dilation=fc_dilation),
                   nn.ReLU(inplace=True),
                   nn.Conv2d(fc_ch, fc_ch, 3, padding=fc_dilation, dilation=fc_dilation),
                   nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.classifier = ASPPClassifier(fc_ch, num_classes, aspp_dilations)
        for m in self.features.modules():
            if isinstance(m, nn.Conv2d):
                # Overwritten by ImageNet weights for conv1..conv5; fc6/fc7 stay as initialised.
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def heads(self) -> list[ASPPClassifier]:
        return [self.classifier]

    def head_parameters(self) -> list[nn.Parameter]:
        """ASPP classifier parameters (trained at 10x the backbone learning rate)."""
        return list(self.classifier.parameters())

    def backbone_parameters(self) -> list[nn.Parameter]:
        """conv1_1 .. conv5_3 and fc6/fc7 (fc6/fc7 are new layers but, as in the
        DeepLab-V2 ResNet recipe, only the classifier gets the 10x learning rate)."""
        return list(self.features.parameters())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.classifier(self.features(x)), None
