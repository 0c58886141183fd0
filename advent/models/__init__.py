"""Model factory: every network is built from a :class:`ModelConfig` through here."""
from __future__ import annotations

import torch
from torch import nn

from advent.models.deeplabv2 import DeepLabV2ResNet
from advent.models.discriminator import Discriminator
from advent.models.vgg import DeepLabV2VGG
from advent.params import ModelConfig

#: BGR mean of the Caffe-trained DeepLab ImageNet weights (no 1/255 scaling).
CAFFE_BGR_MEAN = (104.00699, 116.66877, 122.67891)
IMAGENET_RGB_MEAN = (0.485, 0.456, 0.406)
IMAGENET_RGB_STD = (0.229, 0.224, 0.225)


class Preprocess(nn.Module):
    """uint8 or float RGB (N, 3, H, W) in [0, 255] -> the network's input convention."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode
        if mode == "caffe_bgr":
            mean, scale = torch.tensor(CAFFE_BGR_MEAN), torch.ones(3)
        elif mode == "imagenet_rgb":
            mean = torch.tensor(IMAGENET_RGB_MEAN) * 255.0
            scale = 1.0 / (torch.tensor(IMAGENET_RGB_STD) * 255.0)
        else:
            raise ValueError(f"unknown preprocessing {mode!r}")
        # Not persistent: checkpoints keep the official key layout of the network.
        self.register_buffer("mean", mean.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", scale.view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float()
        if self.mode == "caffe_bgr":
            x = x.flip(1)
        return (x - self.mean) * self.scale


class Segmenter(nn.Module):
    """Preprocessing + network. ``forward(images)`` -> ``(main, aux)`` logits at stride 8.

    ``images``: (N, 3, H, W) uint8 RGB. ``aux`` is None for single-level networks.
    ``net.state_dict()`` has the official checkpoint layout.
    """

    def __init__(self, net: nn.Module, preprocessing: str) -> None:
        super().__init__()
        self.preprocess = Preprocess(preprocessing)
        self.net = net

    @property
    def multi_level(self) -> bool:
        return bool(getattr(self.net, "multi_level", False))

    def param_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(backbone, heads) trainable parameters, each parameter exactly once."""
        backbone = [p for p in self.net.backbone_parameters() if p.requires_grad]
        heads = [p for p in self.net.head_parameters() if p.requires_grad]
        return backbone, heads

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.net(self.preprocess(images))


def build_segmenter(cfg: ModelConfig, num_classes: int) -> Segmenter:
    if cfg.arch == "deeplabv2_resnet101":
        net = DeepLabV2ResNet(num_classes, (3, 4, 23, 3), 64, cfg.multi_level,
                              freeze_bn_affine=cfg.freeze_bn_affine)
    elif cfg.arch == "deeplabv2_resnet_tiny":
        # Small ASPP dilations: the tiny benchmark's stride-8 maps are only ~12x24.
        net = DeepLabV2ResNet(num_classes, (1, 1, 1, 1), cfg.width, cfg.multi_level,
                              aspp_dilations=(1, 2, 3, 4), freeze_bn_affine=cfg.freeze_bn_affine)
    elif cfg.arch == "deeplabv2_vgg16":
        # No BN in VGG-16, so freeze_bn_affine has nothing to freeze.
        if cfg.multi_level:
            raise ValueError("deeplabv2_vgg16 is single-level: set model.multi_level to false")
        net = DeepLabV2VGG(num_classes)
    else:
        raise ValueError(f"unknown model.arch {cfg.arch!r}")
    return Segmenter(net, cfg.preprocessing)


__all__ = ["ModelConfig", "Segmenter", "Discriminator", "DeepLabV2VGG", "build_segmenter"]
