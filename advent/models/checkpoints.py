"""Strict loading of pretrained and trained weights into our segmentation networks.

Layouts :func:`load_pretrained` understands (file key -> our key):

``advent``
    Our own state_dict names, which are the official ADVENT ones: ``conv1, bn1,
    layer1..layer4`` (``layerX.Y.downsample.0`` conv / ``.1`` BN), ``layer5`` = aux head,
    ``layer6`` = main head, each with ``conv2d_list.0..3``. Covers the official release
    checkpoints, AdaptSegNet-style VGG checkpoints (``features.*``, ``classifier.*``) and
    our own files (a bare state_dict, or a dict holding it under ``"model"``,
    ``"state_dict"`` (advent.snapshot model files) or ``"segmenter"`` (advent.train
    resume checkpoints); a common ``module.`` (DDP) or ``net.``
    (:class:`~advent.models.Segmenter`) prefix is removed). Every key must match.
``deeplab_imagenet``
    The DeepLab ResNet-101 ImageNet init file of the official code: every key carries
    one extra leading component (``Scale.conv1.weight``) and it holds an old ``layer5``
    classifier, which is skipped (as is an ``fc`` if present). Loads the backbone only;
    the ASPP heads keep their N(0, 0.01) init. Expects ``caffe_bgr`` preprocessing.
``torchvision_resnet``
    A torchvision ResNet-101 ImageNet state_dict: same names as ours, ``fc.*`` skipped,
    backbone only. Caveat: torchvision's bottleneck ("ResNet v1.5") puts the stride on
    the 3x3 conv2, ours (Caffe-style, as DeepLab) on the 1x1 conv1. Shapes are equal so
    the weights load by name, but layer2's first block then subsamples before instead
    of inside the 3x3 conv, a small mismatch with how the weights were trained; this is
    a convenience init, not the paper's. Expects ``imagenet_rgb`` preprocessing.
``torchvision_vgg``
    A torchvision VGG-16 ImageNet state_dict into :class:`~advent.models.vgg.DeepLabV2VGG`:
    the 13 ``features`` convs are mapped (conv5 indices shift by one, pool4 is gone);
    the fully connected ``classifier.*`` is skipped, so fc6/fc7 and the head keep their
    init. Expects ``imagenet_rgb`` preprocessing.
``auto``
    Picks one of the above from the keys (see :func:`detect_layout`).

``*.num_batches_tracked`` buffers may be absent from a file (PyTorch <= 0.4.0 wrote
none); they then keep their current value. Any other missing or unexpected key, or a
shape mismatch, raises :class:`CheckpointMismatch` naming the layout and the first keys.
Files are always read with ``torch.load(weights_only=True, map_location="cpu")``
(:func:`advent.io.load_torch_file`: a file it refuses raises
:class:`~advent.io.UnreadableFileError` saying what the file is).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal, Mapping

import torch
from torch import nn

from advent.io import load_torch_file
from advent.models.deeplabv2 import DeepLabV2ResNet
from advent.models.vgg import DeepLabV2VGG, torchvision_vgg16_key_map

Layout = Literal["advent", "deeplab_imagenet", "torchvision_resnet", "torchvision_vgg", "auto"]
LAYOUTS: tuple[str, ...] = ("advent", "deeplab_imagenet", "torchvision_resnet", "torchvision_vgg", "auto")

#: How many key names an error message lists per category.
_SHOW = 5
#: Prefixes a whole state_dict may carry from a wrapper module (DDP, our Segmenter).
_WRAPPER_PREFIXES = ("module.", "net.")
#: Keys under which a checkpoint dict may hold the model's state_dict: "model" (common),
#: "state_dict" (advent.snapshot model files), "segmenter" (advent.train resume checkpoints).
_NESTED_KEYS = ("model", "state_dict", "segmenter")

_EXPECTED = {
    "advent": "the full network in official ADVENT names (conv1, bn1, layer1..layer4, "
              "layer5 = aux head, layer6 = main head with conv2d_list.0..3; VGG: features.*, classifier.*)",
    "deeplab_imagenet": "the DeepLab ImageNet init: '<prefix>.conv1 ... <prefix>.layer4' backbone keys "
                        "(an old '<prefix>.layer5' head is skipped)",
    "torchvision_resnet": "a torchvision ResNet-101 state_dict: conv1, bn1, layer1..layer4 (fc.* skipped)",
    "torchvision_vgg": "a torchvision VGG-16 state_dict: features.{0,2,5,...,28}.weight/bias "
                       "(classifier.* skipped)",
}


class CheckpointMismatch(RuntimeError):
    """A checkpoint's keys or shapes do not fit the network in the requested layout."""


@dataclass(frozen=True)
class LoadReport:
    """What :func:`load_pretrained` did (for logs)."""

    path: str
    layout: str                  # the layout used (resolved if "auto" was asked)
    loaded: tuple[str, ...]      # our keys that received file values
    skipped: tuple[str, ...]     # file keys deliberately ignored (fc, old head, VGG classifier)
    kept_init: tuple[str, ...]   # our keys the file does not provide (heads, num_batches_tracked)


def _target_net(net: nn.Module) -> nn.Module:
    """The module whose state_dict has the checkpoint layout: a Segmenter's ``net``."""
    inner = getattr(net, "net", None)
    if isinstance(inner, nn.Module) and hasattr(net, "preprocess"):
        return inner
    return net


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def unwrap_state_dict(obj: Any, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """A flat ``{name: tensor}`` from a state_dict or a training-checkpoint dict.

    Accepts a bare state_dict or a dict holding one under ``"model"`` / ``"state_dict"`` /
    ``"segmenter"`` (nested at most twice); removes a prefix (``module.``, ``net.``) shared by every key.
    """
    for _ in range(3):
        if _is_state_dict(obj):
            break
        if isinstance(obj, Mapping):
            inner = next((obj[k] for k in _NESTED_KEYS if k in obj and isinstance(obj[k], Mapping)), None)
            if inner is not None:
                obj = inner
                continue
        kind = type(obj).__name__
        keys = list(obj)[:8] if isinstance(obj, Mapping) else []
        raise CheckpointMismatch(
            f"{source}: no state_dict found (a {kind}{f' with keys {keys}' if keys else ''}); expected "
            f"a mapping of names to tensors, or a dict holding one under {list(_NESTED_KEYS)}")
    else:
        raise CheckpointMismatch(f"{source}: no state_dict found within 3 levels of nesting")
    sd = dict(obj)
    stripped = True
    while stripped:
        stripped = False
        for prefix in _WRAPPER_PREFIXES:
            if all(k.startswith(prefix) for k in sd):
                sd = {k[len(prefix):]: v for k, v in sd.items()}
                stripped = True
    return sd


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load ``path`` safely (:func:`advent.io.load_torch_file`: ``weights_only=True``, on
    the CPU) and unwrap its state_dict."""
    return unwrap_state_dict(load_torch_file(path, "weights file"), str(path))


def _head_prefixes(net: nn.Module) -> tuple[str, ...]:
    heads = getattr(net, "heads", None)
    if heads is None:
        return ()
    head_ids = {id(h) for h in heads()}
    return tuple(f"{name}." for name, mod in net.named_modules() if id(mod) in head_ids)


def _backbone_keys(net: nn.Module) -> set[str]:
    prefixes = _head_prefixes(net)
    return {k for k in net.state_dict() if not k.startswith(prefixes)}


def detect_layout(sd: Mapping[str, torch.Tensor], net: nn.Module | None = None) -> str:
    """Guess the layout of an (unwrapped) state_dict.

    ``fc.weight`` + ``conv1.weight`` -> torchvision_resnet; a 2-D ``classifier.0.weight``
    (a Linear) -> torchvision_vgg; one first name component shared by every key that is
    not a top-level module of ``net`` (e.g. ``Scale.``) -> deeplab_imagenet; else advent.
    """
    keys = set(sd)
    if "fc.weight" in keys and "conv1.weight" in keys:
        return "torchvision_resnet"
    fc = sd.get("classifier.0.weight")
    if fc is not None and fc.ndim == 2:
        return "torchvision_vgg"
    firsts = {k.split(".", 1)[0] for k in keys}
    ours = {name for name, _ in net.named_children()} if net is not None else {
        "conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "layer5", "layer6", "features", "classifier"}
    if len(firsts) == 1 and all("." in k for k in keys) and not firsts & ours:
        return "deeplab_imagenet"
    return "advent"


def _map_keys(sd: Mapping[str, torch.Tensor], layout: str, net: nn.Module, source: str
              ) -> tuple[dict[str, torch.Tensor], dict[str, str], list[str], set[str]]:
    """-> (our key -> tensor, our key -> file key, skipped file keys, our keys expected)."""
    mapped: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    skipped: list[str] = []
    unmapped: list[str] = []  # file keys this layout has no place for (reported as unexpected)
    if layout == "advent":
        pairs = [(k, k) for k in sd]
        expected = set(net.state_dict())
    elif layout == "deeplab_imagenet":
        pairs = []
        for k in sd:
            parts = k.split(".", 1)
            if len(parts) < 2:
                unmapped.append(k)
            elif parts[1].split(".", 1)[0] in ("layer5", "fc"):
                skipped.append(k)  # the init file's old classifier
            else:
                pairs.append((k, parts[1]))
        firsts = {k.split(".", 1)[0] for k in sd}
        if len(firsts) > 1:
            raise CheckpointMismatch(
                f"{source}: layout 'deeplab_imagenet' expects one leading prefix shared by every key "
                f"(e.g. 'Scale.'), found {sorted(firsts)[:_SHOW]}")
        expected = _backbone_keys(net)
    elif layout == "torchvision_resnet":
        pairs = []
        for k in sd:
            if k.startswith("fc."):
                skipped.append(k)
            else:
                pairs.append((k, k))
        expected = _backbone_keys(net)
    elif layout == "torchvision_vgg":
        table = torchvision_vgg16_key_map()
        pairs = []
        for k in sd:
            if k.startswith("classifier."):
                skipped.append(k)  # fully connected fc6/fc7/fc8: no counterpart
            elif k in table:
                pairs.append((k, table[k]))
            else:
                unmapped.append(k)
        expected = set(table.values())
    else:
        raise ValueError(f"unknown checkpoint layout {layout!r}; known: {list(LAYOUTS)}")
    for file_key, ours in pairs:
        mapped[ours] = sd[file_key]
        origin[ours] = file_key
    for k in unmapped:
        origin[f"<unmapped>{k}"] = k
    return mapped, origin, skipped, expected


def _check_arch(net: nn.Module, layout: str) -> None:
    need = {"deeplab_imagenet": DeepLabV2ResNet, "torchvision_resnet": DeepLabV2ResNet,
            "torchvision_vgg": DeepLabV2VGG}.get(layout)
    if need is not None and not isinstance(net, need):
        raise CheckpointMismatch(
            f"layout {layout!r} loads into a {need.__name__}, not a {type(net).__name__}")


def load_state_dict_strict(net: nn.Module, sd: Mapping[str, torch.Tensor], layout: Layout = "auto",
                           source: str = "<state_dict>") -> LoadReport:
    """Copy ``sd`` (already unwrapped) into ``net`` as :func:`load_pretrained` does."""
    target = _target_net(net)
    resolved = detect_layout(sd, target) if layout == "auto" else layout
    if resolved not in _EXPECTED:
        raise ValueError(f"unknown checkpoint layout {layout!r}; known: {list(LAYOUTS)}")
    _check_arch(target, resolved)
    mapped, origin, skipped, expected = _map_keys(sd, resolved, target, source)
    own = target.state_dict()
    optional = {k for k in expected if k.endswith("num_batches_tracked")}
    missing = sorted(expected - set(mapped) - optional)
    unexpected = sorted(origin[k] for k in set(origin) - expected)
    label = f"{resolved!r}" + (" (auto-detected)" if layout == "auto" else "")
    if missing or unexpected:
        lines = [f"{source} does not fit {type(target).__name__} in layout {label}, "
                 f"which expects {_EXPECTED[resolved]}:"]
        if missing:
            lines.append(f"  {len(missing)} missing keys, first: {missing[:_SHOW]}")
        if unexpected:
            lines.append(f"  {len(unexpected)} unexpected keys, first: {unexpected[:_SHOW]}")
        if layout != "auto":
            lines.append(f"  (auto-detection would pick {detect_layout(sd, target)!r})")
        raise CheckpointMismatch("\n".join(lines))
    bad_shape = [f"{origin[k]} {tuple(v.shape)} -> {k} {tuple(own[k].shape)}"
                 for k, v in mapped.items() if tuple(v.shape) != tuple(own[k].shape)]
    if bad_shape:
        raise CheckpointMismatch(
            f"{source} in layout {label}: {len(bad_shape)} shape mismatches (file -> net), "
            f"first: {bad_shape[:_SHOW]}")
    full = dict(own)
    full.update(mapped)
    # Every key present: a truly strict load (copies in place, casting dtype if needed).
    target.load_state_dict(full, strict=True)
    return LoadReport(path=source, layout=resolved, loaded=tuple(sorted(mapped)),
                      skipped=tuple(sorted(skipped)),
                      kept_init=tuple(sorted(set(own) - set(mapped))))


def load_pretrained(net: nn.Module, path: str | os.PathLike, layout: Layout = "auto") -> LoadReport:
    """Load the weights in ``path`` into ``net`` (a network or a :class:`Segmenter`), strictly.

    ``layout``: see the module docstring. Raises :class:`CheckpointMismatch` listing the
    first missing / unexpected keys and the layout it expected when they do not fit.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown checkpoint layout {layout!r}; known: {list(LAYOUTS)}")
    sd = read_state_dict(path)
    return load_state_dict_strict(net, sd, layout, source=str(path))


def backbone_state_dict(net: nn.Module, prefix: str = "Scale") -> dict[str, torch.Tensor]:
    """A ResNet's backbone in the ``deeplab_imagenet`` layout (``<prefix>.conv1.weight``
    ...; no head keys): what :func:`load_pretrained` reads back as an init, for a
    pretrained init made with this repository (``scripts/make_init.py``)."""
    target = _target_net(net)
    _check_arch(target, "deeplab_imagenet")
    keys = _backbone_keys(target)
    return {f"{prefix}.{k}": v.detach().clone() for k, v in target.state_dict().items() if k in keys}


__all__ = ["CheckpointMismatch", "LAYOUTS", "Layout", "LoadReport", "backbone_state_dict",
           "detect_layout", "load_pretrained", "load_state_dict_strict", "read_state_dict",
           "unwrap_state_dict"]
