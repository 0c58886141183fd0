"""The ``model`` and ``init`` sections: the segmenter and the weights it starts from."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from advent.config import ConfigError
from advent.params._checks import _in_range

#: Stem channels of the tiny ResNet (``model.width``).
MAX_MODEL_WIDTH = 1024


@dataclass(frozen=True)
class ModelConfig:
    """Which segmenter to build (advent.models.build_segmenter).

    arch: ``deeplabv2_resnet101`` (paper), ``deeplabv2_vgg16`` (paper's VGG-16 variant,
      single level only) or ``deeplabv2_resnet_tiny`` (CPU benchmark: one bottleneck per
      stage, ``width`` channels in the stem).
    multi_level: add the auxiliary ASPP head on layer3 (ResNet only; must be False for VGG).
    preprocessing: ``imagenet_rgb`` (x/255, ImageNet mean/std) or ``caffe_bgr``
      (RGB->BGR, subtract the Caffe mean, no scaling: the official code's).
    """

    arch: Literal["deeplabv2_resnet101", "deeplabv2_resnet_tiny", "deeplabv2_vgg16"] = "deeplabv2_resnet_tiny"
    multi_level: bool = True
    width: int = 16
    preprocessing: Literal["imagenet_rgb", "caffe_bgr"] = "imagenet_rgb"
    freeze_bn_affine: bool = False

    def validate(self, key: str) -> None:
        _in_range(key, self, 1, MAX_MODEL_WIDTH, "width")
        if self.arch == "deeplabv2_vgg16" and self.multi_level:
            raise ConfigError(f"{key}.multi_level must be false for deeplabv2_vgg16 (single-level network)")


@dataclass(frozen=True)
class InitParams:
    """Pretrained weights every training from scratch starts from ("" = random init).

    layout: auto | advent | deeplab_imagenet | torchvision_resnet | torchvision_vgg
    (see advent.models.checkpoints.load_pretrained).
    """

    weights: str = ""
    layout: Literal["auto", "advent", "deeplab_imagenet", "torchvision_resnet", "torchvision_vgg"] = "auto"
