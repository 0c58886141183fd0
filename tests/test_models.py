"""Networks (DeepLab-V2 ResNet-101 / tiny / VGG-16, discriminator) and checkpoint loading.

Paper-scale networks are built on the ``meta`` device where only shapes matter; the
value-level loading tests use the tiny ResNet and a narrow VGG, whose key layouts are
those of the full networks with fewer blocks / channels.
"""
from __future__ import annotations

import argparse

import pytest
import torch
import torchvision
from torch import nn

from advent.config import ConfigError, from_dict
from advent.io import UnreadableFileError
from advent.models import Discriminator, ModelConfig, build_segmenter
from advent.models.checkpoints import (CheckpointMismatch, detect_layout, load_pretrained,
                                       load_state_dict_strict)
from advent.models.deeplabv2 import DeepLabV2ResNet
from advent.models.vgg import DeepLabV2VGG, torchvision_vgg16_key_map

NUM_CLASSES = 19



def deeplab_resnet_size(n: int) -> int:
    """Output size of the Caffe-style stem + layer2 stride (computed independently here)."""
    h1 = (n + 2 * 3 - 7) // 2 + 1          # conv1 7x7/2 pad 3
    h2 = -(-(h1 + 2 * 1 - 3) // 2) + 1     # maxpool 3x3/2 pad 1, ceil mode
    return (h2 - 1) // 2 + 1               # layer2's 1x1 stride-2 conv


def meta_resnet101(multi_level: bool = True) -> DeepLabV2ResNet:
    with torch.device("meta"):
        return DeepLabV2ResNet(NUM_CLASSES, multi_level=multi_level)


def tiny_resnet(seed: int, multi_level: bool = True, width: int = 8) -> DeepLabV2ResNet:
    torch.manual_seed(seed)
    return DeepLabV2ResNet(NUM_CLASSES, (1, 1, 1, 1), width, multi_level, aspp_dilations=(1, 2, 3, 4))


def randomise(net: nn.Module, seed: int) -> nn.Module:
    """Give every parameter and buffer distinctive random values (so copies are traceable)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in list(net.parameters()) + list(net.buffers()):
            if t.dtype.is_floating_point:
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            else:
                t.fill_(int(torch.randint(1, 1000, (1,), generator=g)))
    return net


def assert_state_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], keys) -> None:
    for k in keys:
        assert torch.equal(a[k], b[k]), k


# ---------------------------------------------------------------- ResNet-101 structure

@pytest.fixture(scope="module")
def resnet101() -> DeepLabV2ResNet:
    torch.manual_seed(0)
    return DeepLabV2ResNet(NUM_CLASSES).eval()


def test_resnet101_forward_small_input(resnet101: DeepLabV2ResNet) -> None:
    with torch.no_grad():
        main, aux = resnet101(torch.randn(1, 3, 65, 65))
    assert main.shape == aux.shape == (1, NUM_CLASSES, 9, 9)
    assert torch.isfinite(main).all() and torch.isfinite(aux).all()
    assert not torch.equal(main, aux)


def test_resnet101_output_stride_8() -> None:
    # Shape propagation on the meta device (BN on meta is slow: one size only).
    main, aux = meta_resnet101()(torch.empty(1, 3, 512, 1024, device="meta"))
    assert main.shape == aux.shape == (1, NUM_CLASSES, 65, 129)  # the official network's size
    assert deeplab_resnet_size(512) == 65 and deeplab_resnet_size(1024) == 129


@pytest.mark.parametrize("h,w", [(64, 64), (57, 63), (90, 160), (33, 41)])
def test_stem_sizes_on_tiny_resnet(h: int, w: int) -> None:
    # Same stem / strides as resnet101, so the same size rule, checked on real values.
    net = tiny_resnet(0).eval()
    with torch.no_grad():
        main, aux = net(torch.randn(1, 3, h, w))
    assert main.shape == aux.shape == (1, NUM_CLASSES, deeplab_resnet_size(h), deeplab_resnet_size(w))


def test_resnet101_architecture_matches_paper(resnet101: DeepLabV2ResNet) -> None:
    net = resnet101
    assert (net.conv1.kernel_size, net.conv1.stride, net.conv1.padding) == ((7, 7), (2, 2), (3, 3))
    mp = net.maxpool
    assert (mp.kernel_size, mp.stride, mp.padding, mp.ceil_mode) == (3, 2, 1, True)
    assert [len(l) for l in (net.layer1, net.layer2, net.layer3, net.layer4)] == [3, 4, 23, 3]
    # Caffe style: the stride is on the first 1x1 conv, never on the 3x3.
    assert net.layer2[0].conv1.stride == (2, 2) and net.layer2[0].conv2.stride == (1, 1)
    assert net.layer2[0].downsample[0].stride == (2, 2)
    for layer, d in ((net.layer1, 1), (net.layer2, 1), (net.layer3, 2), (net.layer4, 4)):
        for block in layer:
            assert block.conv2.dilation == (d, d) and block.conv2.padding == (d, d)
            if layer is not net.layer2:
                assert block.conv1.stride == (1, 1)
        assert layer[0].downsample is not None
    for head, ch in ((net.layer5, 1024), (net.layer6, 2048)):
        convs = list(head.conv2d_list)
        assert [c.dilation[0] for c in convs] == [6, 12, 18, 24]
        assert [c.padding[0] for c in convs] == [6, 12, 18, 24]
        assert all(c.in_channels == ch and c.out_channels == NUM_CLASSES and c.bias is not None
                   for c in convs)
    w = torch.cat([c.weight.flatten() for c in net.layer6.conv2d_list])
    assert abs(w.std().item() - 0.01) < 5e-4 and abs(w.mean().item()) < 5e-4  # N(0, 0.01)


def test_aspp_outputs_are_summed() -> None:
    net = tiny_resnet(0)
    x = torch.randn(1, net.layer6.conv2d_list[0].in_channels, 6, 6)
    expect = sum(c(x) for c in net.layer6.conv2d_list)
    torch.testing.assert_close(net.layer6(x), expect)


def test_resnet101_keys_are_official_and_match_torchvision() -> None:
    sd = meta_resnet101().state_dict()
    for key in ("conv1.weight", "bn1.running_mean", "layer6.conv2d_list.3.weight",
                "layer6.conv2d_list.0.bias", "layer5.conv2d_list.3.weight",
                "layer1.0.downsample.0.weight", "layer1.0.downsample.1.running_mean",
                "layer1.0.downsample.1.weight", "layer3.22.bn3.running_var", "layer4.2.conv3.weight"):
        assert key in sd, key
    assert tuple(sd["layer5.conv2d_list.0.weight"].shape) == (NUM_CLASSES, 1024, 3, 3)
    assert tuple(sd["layer6.conv2d_list.0.weight"].shape) == (NUM_CLASSES, 2048, 3, 3)
    with torch.device("meta"):
        tv = torchvision.models.resnet101().state_dict()
    backbone = {k: v for k, v in sd.items() if not k.startswith(("layer5.", "layer6."))}
    tv_backbone = {k: v for k, v in tv.items() if not k.startswith("fc.")}
    assert backbone.keys() == tv_backbone.keys()
    assert all(backbone[k].shape == tv_backbone[k].shape for k in backbone)
    assert set(sd) - set(backbone) == {f"layer{h}.conv2d_list.{i}.{p}"
                                       for h in (5, 6) for i in range(4) for p in ("weight", "bias")}
    single = meta_resnet101(multi_level=False).state_dict()
    assert not any(k.startswith("layer5.") for k in single) and "layer6.conv2d_list.3.bias" in single


def test_single_level_returns_no_aux() -> None:
    net = tiny_resnet(0, multi_level=False).eval()
    main, aux = net(torch.randn(1, 3, 40, 40))
    assert aux is None and main.shape == (1, NUM_CLASSES, deeplab_resnet_size(40), deeplab_resnet_size(40))


# ---------------------------------------------------------------- tiny ResNet, VGG-16, factory

def test_resnet_tiny_segmenter_shapes() -> None:
    seg = build_segmenter(ModelConfig(arch="deeplabv2_resnet_tiny", width=8), NUM_CLASSES).eval()
    images = torch.randint(0, 256, (2, 3, 64, 96), dtype=torch.uint8)
    main, aux = seg(images)
    assert main.shape == aux.shape == (2, NUM_CLASSES, deeplab_resnet_size(64), deeplab_resnet_size(96))


def test_vgg16_structure_and_forward() -> None:
    with torch.device("meta"):
        net = DeepLabV2VGG(NUM_CLASSES)
    pools = [m for m in net.features if isinstance(m, nn.MaxPool2d)]
    convs = [m for m in net.features if isinstance(m, nn.Conv2d)]
    assert len(pools) == 3 and len(convs) == 15  # pool4 / pool5 gone; 13 VGG convs + fc6 + fc7
    assert [c.dilation[0] for c in convs[:10]] == [1] * 10
    assert [(c.dilation[0], c.padding[0]) for c in convs[10:13]] == [(2, 2)] * 3
    fc6, fc7 = convs[13:]
    assert (fc6.in_channels, fc6.out_channels, fc6.kernel_size, fc6.dilation) == (512, 1024, (3, 3), (4, 4))
    assert (fc7.in_channels, fc7.out_channels, fc7.kernel_size, fc7.dilation) == (1024, 1024, (3, 3), (4, 4))
    assert isinstance(net.features[-1], nn.ReLU) and isinstance(net.features[30], nn.ReLU)
    assert [c.dilation[0] for c in net.classifier.conv2d_list] == [6, 12, 18, 24]
    for h, w in ((65, 65), (512, 1024), (720, 1280)):
        main, aux = net(torch.empty(1, 3, h, w, device="meta"))
        assert aux is None and main.shape == (1, NUM_CLASSES, h // 8, w // 8)
    # Real values through a narrow copy (same layers, 1/8 of the channels).
    torch.manual_seed(0)
    small = DeepLabV2VGG(NUM_CLASSES, width_div=8).eval()
    with torch.no_grad():
        main, aux = small(torch.randn(1, 3, 65, 65))
    assert aux is None and main.shape == (1, NUM_CLASSES, 8, 8) and torch.isfinite(main).all()


def test_vgg16_factory_and_single_level_rule() -> None:
    seg = build_segmenter(ModelConfig(arch="deeplabv2_vgg16", multi_level=False), NUM_CLASSES)
    assert isinstance(seg.net, DeepLabV2VGG) and not seg.multi_level
    with pytest.raises(ValueError, match="single-level"):
        build_segmenter(ModelConfig(arch="deeplabv2_vgg16", multi_level=True), NUM_CLASSES)
    with pytest.raises(ValueError, match="multi_level"):
        from_dict(ModelConfig, {"arch": "deeplabv2_vgg16", "multi_level": True}, "model")
    with pytest.raises(ConfigError):
        from_dict(ModelConfig, {"arch": "deeplabv2_vgg19"}, "model")


def test_vgg16_keys_match_torchvision_features() -> None:
    with torch.device("meta"):
        tv = torchvision.models.vgg16().state_dict()
        ours = DeepLabV2VGG(NUM_CLASSES).state_dict()
    table = torchvision_vgg16_key_map()
    assert set(table) == {k for k in tv if k.startswith("features.")}
    assert all(tv[k].shape == ours[v].shape for k, v in table.items())
    assert table["features.28.weight"] == "features.27.weight"   # conv5_3 shifts past pool4
    assert table["features.21.bias"] == "features.21.bias"        # conv4_3 does not
    assert {k for k in ours if k.startswith("features.")} - set(table.values()) == {
        "features.29.weight", "features.29.bias", "features.31.weight", "features.31.bias"}


def test_discriminator_patch_map() -> None:
    d = Discriminator(NUM_CLASSES)
    assert d(torch.rand(1, NUM_CLASSES, 64, 128)).shape == (1, 1, 2, 4)


# ---------------------------------------------------------------- BN and parameter groups

def test_bn_affine_frozen_but_running_stats_update() -> None:
    net = tiny_resnet(0)  # freeze_bn_affine defaults to True on the class
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 1 + 4 * 4  # stem + (3 per block + downsample) x 4 stages
    assert all(not m.weight.requires_grad and not m.bias.requires_grad for m in bns)
    before = net.layer1[0].downsample[1].running_mean.clone()
    net.train()
    main, aux = net(torch.randn(2, 3, 32, 32))
    (main.sum() + aux.sum()).backward()
    assert all(m.weight.grad is None and m.bias.grad is None for m in bns)
    assert net.conv1.weight.grad is not None
    assert not torch.equal(before, net.layer1[0].downsample[1].running_mean)
    seg = build_segmenter(ModelConfig(arch="deeplabv2_resnet_tiny", width=8, freeze_bn_affine=True), 5)
    assert not any(m.weight.requires_grad for m in seg.modules() if isinstance(m, nn.BatchNorm2d))
    seg = build_segmenter(ModelConfig(arch="deeplabv2_resnet_tiny", width=8, freeze_bn_affine=False), 5)
    assert all(m.weight.requires_grad for m in seg.modules() if isinstance(m, nn.BatchNorm2d))


@pytest.mark.parametrize("arch,multi,freeze", [
    ("deeplabv2_resnet101", True, True), ("deeplabv2_resnet101", False, True),
    ("deeplabv2_resnet_tiny", True, False), ("deeplabv2_vgg16", False, False)])
def test_param_groups_cover_each_parameter_once(arch: str, multi: bool, freeze: bool) -> None:
    with torch.device("meta"):
        seg = build_segmenter(ModelConfig(arch=arch, multi_level=multi, freeze_bn_affine=freeze), NUM_CLASSES)
    backbone, heads = seg.param_groups()
    ids_b, ids_h = [id(p) for p in backbone], [id(p) for p in heads]
    assert len(set(ids_b)) == len(ids_b) and len(set(ids_h)) == len(ids_h)
    assert not set(ids_b) & set(ids_h)
    trainable = {id(p) for p in seg.parameters() if p.requires_grad}
    assert set(ids_b) | set(ids_h) == trainable
    head_modules = seg.net.heads()
    assert len(head_modules) == (2 if multi else 1)
    assert set(ids_h) == {id(p) for h in head_modules for p in h.parameters()}
    # The raw network's groups partition all its parameters (frozen ones included).
    all_ids = [id(p) for p in seg.net.backbone_parameters()] + [id(p) for p in seg.net.head_parameters()]
    assert sorted(all_ids) == sorted(id(p) for p in seg.net.parameters())


# ---------------------------------------------------------------- checkpoint loading

def test_load_advent_layout_from_file_variants(tmp_path) -> None:
    src = randomise(tiny_resnet(1), 11)
    sd = src.state_dict()
    variants = {
        "bare.pth": sd,
        "trainer.pth": {"model": sd, "optimizer": {"state": {}, "param_groups": []}, "step": 7},
        "segmenter.pth": {"model": {f"net.{k}": v for k, v in sd.items()}},
        "ddp.pth": {"state_dict": {f"module.{k}": v for k, v in sd.items()}},
        # advent.snapshot model file and advent.train resume checkpoint shapes
        "snapshot.pth": {"format": "advent-model-v1", "model_config": {"arch": "x"}, "num_classes": 19,
                         "state_dict": sd, "info": {"method": "advent"}},
        "resume.pth": {"fingerprint": "f", "step": 4, "segmenter": {f"net.{k}": v for k, v in sd.items()},
                       "modules": {"d_main": {"net.0.weight": torch.zeros(1)}}, "opt_g": {}},
    }
    for name, obj in variants.items():
        torch.save(obj, tmp_path / name)
        dst = tiny_resnet(2)
        report = load_pretrained(dst, tmp_path / name, layout="advent")
        assert report.layout == "advent" and not report.skipped and not report.kept_init
        assert_state_equal(dst.state_dict(), sd, sd.keys())
        # auto picks the same layout
        dst = tiny_resnet(3)
        assert load_pretrained(dst, tmp_path / name).layout == "advent"
        assert torch.equal(dst.layer6.conv2d_list[3].weight, src.layer6.conv2d_list[3].weight)


def test_load_into_segmenter_and_legacy_file_format(tmp_path) -> None:
    src = randomise(tiny_resnet(1), 12)
    # PyTorch 0.4-era files: legacy (non-zip) format and no num_batches_tracked buffers.
    sd = {k: v for k, v in src.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(sd, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    seg = build_segmenter(ModelConfig(arch="deeplabv2_resnet_tiny", width=8, freeze_bn_affine=True), NUM_CLASSES)
    before = seg.net.bn1.num_batches_tracked.clone()
    report = load_pretrained(seg, tmp_path / "legacy.pth", layout="advent")
    assert all(k.endswith("num_batches_tracked") for k in report.kept_init) and report.kept_init
    assert_state_equal(seg.net.state_dict(), sd, sd.keys())
    assert torch.equal(seg.net.bn1.num_batches_tracked, before)


def test_load_deeplab_imagenet_init(tmp_path) -> None:
    src = randomise(tiny_resnet(1), 13)
    sd = src.state_dict()
    init = {f"Scale.{k}": v for k, v in sd.items()
            if not k.startswith(("layer5.", "layer6.")) and not k.endswith("num_batches_tracked")}
    # The init file's own classifier (other class count): must be skipped, not loaded.
    for i in range(4):
        init[f"Scale.layer5.conv2d_list.{i}.weight"] = torch.ones(21, 8 * 8 * 4, 3, 3)
        init[f"Scale.layer5.conv2d_list.{i}.bias"] = torch.ones(21)
    torch.save(init, tmp_path / "DeepLab_resnet_pretrained_imagenet.pth")
    dst = tiny_resnet(2)
    heads_before = {k: v.clone() for k, v in dst.state_dict().items() if k.startswith(("layer5", "layer6"))}
    report = load_pretrained(dst, tmp_path / "DeepLab_resnet_pretrained_imagenet.pth", layout="auto")
    assert report.layout == "deeplab_imagenet"
    assert len(report.skipped) == 8 and all(k.startswith("Scale.layer5.") for k in report.skipped)
    got = dst.state_dict()
    assert_state_equal(got, sd, [k[len("Scale."):] for k in init if not k.startswith("Scale.layer5.")])
    assert_state_equal(got, heads_before, heads_before.keys())
    assert torch.equal(dst.layer1[0].downsample[1].running_var, src.layer1[0].downsample[1].running_var)


def test_load_torchvision_resnet_state_dict(tmp_path) -> None:
    # A real torchvision ResNet with one block per stage has our tiny net's keys at width 64.
    torch.manual_seed(5)
    tv = randomise(torchvision.models.resnet.ResNet(torchvision.models.resnet.Bottleneck, [1, 1, 1, 1]), 14)
    torch.save(tv.state_dict(), tmp_path / "resnet.pth")
    dst = tiny_resnet(2, width=64)
    head_before = dst.layer6.conv2d_list[0].weight.clone()
    report = load_pretrained(dst, tmp_path / "resnet.pth", layout="torchvision_resnet")
    assert set(report.skipped) == {"fc.weight", "fc.bias"}
    assert set(report.kept_init) == {k for k in dst.state_dict() if k.startswith(("layer5", "layer6"))}
    tv_sd = tv.state_dict()
    assert_state_equal(dst.state_dict(), tv_sd, [k for k in tv_sd if not k.startswith("fc.")])
    assert torch.equal(dst.layer6.conv2d_list[0].weight, head_before)
    assert detect_layout(tv_sd) == "torchvision_resnet"


def test_load_torchvision_vgg_state_dict(tmp_path) -> None:
    src = randomise(DeepLabV2VGG(NUM_CLASSES, width_div=16), 15)
    ours = src.state_dict()
    table = torchvision_vgg16_key_map()
    tv_sd = {tv_key: ours[our_key] for tv_key, our_key in table.items()}
    tv_sd.update({"classifier.0.weight": torch.ones(8, 16), "classifier.0.bias": torch.ones(8),
                  "classifier.6.weight": torch.ones(10, 8), "classifier.6.bias": torch.ones(10)})
    torch.save(tv_sd, tmp_path / "vgg16.pth")
    torch.manual_seed(3)
    dst = DeepLabV2VGG(NUM_CLASSES, width_div=16)
    fc6_before = dst.features[29].weight.clone()
    report = load_pretrained(dst, tmp_path / "vgg16.pth")
    assert report.layout == "torchvision_vgg" and len(report.loaded) == 26 and len(report.skipped) == 4
    got = dst.state_dict()
    assert_state_equal(got, ours, table.values())
    assert torch.equal(dst.features[27].weight, src.features[27].weight)  # conv5_3 <- tv features.28
    assert torch.equal(dst.features[29].weight, fc6_before)
    # The full network, saved in our own layout, round-trips as "advent".
    torch.save({"model": ours}, tmp_path / "vgg_ours.pth")
    dst2 = DeepLabV2VGG(NUM_CLASSES, width_div=16)
    assert load_pretrained(dst2, tmp_path / "vgg_ours.pth").layout == "advent"
    assert_state_equal(dst2.state_dict(), ours, ours.keys())


def test_resnet101_official_release_layout_loads_directly(resnet101: DeepLabV2ResNet) -> None:
    # A state_dict in the official release names (built from the names, not from our net).
    with torch.device("meta"):
        tv = torchvision.models.resnet101().state_dict()
    shapes = {k: v.shape for k, v in tv.items()
              if not k.startswith("fc.") and not k.endswith("num_batches_tracked")}
    for h, ch in ((5, 1024), (6, 2048)):
        for i in range(4):
            shapes[f"layer{h}.conv2d_list.{i}.weight"] = torch.Size((NUM_CLASSES, ch, 3, 3))
            shapes[f"layer{h}.conv2d_list.{i}.bias"] = torch.Size((NUM_CLASSES,))
    # A distinct constant per key (cheap, and any misrouted tensor shows).
    official = {k: torch.full(shape, float(i + 1)) for i, (k, shape) in enumerate(shapes.items())}
    net = meta_resnet101().to_empty(device="cpu")  # uninitialised: every value must come from the file
    report = load_state_dict_strict(net, official, layout="auto")
    assert report.layout == "advent"
    sd = net.state_dict()
    assert_state_equal(sd, official, ["layer6.conv2d_list.3.weight", "layer5.conv2d_list.0.bias",
                                      "layer1.0.downsample.1.running_mean", "layer3.22.conv2.weight"])
    # Every tensor holds its key's constant (first and last element: copies are whole-tensor).
    for i, k in enumerate(official):
        flat = sd[k].view(-1)
        assert flat[0].item() == flat[-1].item() == float(i + 1), k


def test_mismatch_errors_name_keys_and_layout(tmp_path) -> None:
    sd = tiny_resnet(1).state_dict()
    bad = dict(sd)
    del bad["layer3.0.conv2.weight"]
    bad["layer7.conv.weight"] = torch.zeros(1)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(CheckpointMismatch) as err:
        load_pretrained(tiny_resnet(2), tmp_path / "bad.pth", layout="advent")
    text = str(err.value)
    assert "layer3.0.conv2.weight" in text and "layer7.conv.weight" in text
    assert "'advent'" in text and "missing" in text and "unexpected" in text
    # Multi-level checkpoint into a single-level net: layer5 is unexpected.
    torch.save(sd, tmp_path / "multi.pth")
    with pytest.raises(CheckpointMismatch, match=r"layer5\.conv2d_list"):
        load_pretrained(tiny_resnet(2, multi_level=False), tmp_path / "multi.pth")
    # and the other way round, keys missing and none unexpected: the aux head is missing.
    torch.save(tiny_resnet(1, multi_level=False).state_dict(), tmp_path / "single.pth")
    with pytest.raises(CheckpointMismatch, match=r"8 missing keys, first: \['layer5\.conv2d_list"):
        load_pretrained(tiny_resnet(2), tmp_path / "single.pth")
    # Wrong class count: a shape error naming the key.
    torch.save(DeepLabV2ResNet(5, (1, 1, 1, 1), 8, aspp_dilations=(1, 2, 3, 4)).state_dict(), tmp_path / "c5.pth")
    with pytest.raises(CheckpointMismatch, match=r"layer5\.conv2d_list\.0\.weight \(5, 128, 3, 3\)"):
        load_pretrained(tiny_resnet(2), tmp_path / "c5.pth")
    # A ResNet layout into a VGG net, and a prefix-less file as "deeplab_imagenet".
    with pytest.raises(CheckpointMismatch, match="DeepLabV2ResNet"):
        load_pretrained(DeepLabV2VGG(NUM_CLASSES, width_div=16), tmp_path / "multi.pth", layout="torchvision_resnet")
    with pytest.raises(CheckpointMismatch, match="deeplab_imagenet"):
        load_pretrained(tiny_resnet(2), tmp_path / "multi.pth", layout="deeplab_imagenet")
    with pytest.raises(ValueError, match="unknown checkpoint layout"):
        load_pretrained(tiny_resnet(2), tmp_path / "multi.pth", layout="caffe")  # type: ignore[arg-type]
    # The failed loads left the net untouched (checks happen before any copy).
    dst = tiny_resnet(2)
    before = {k: v.clone() for k, v in dst.state_dict().items()}
    with pytest.raises(CheckpointMismatch):
        load_pretrained(dst, tmp_path / "bad.pth")
    assert_state_equal(dst.state_dict(), before, before.keys())


def test_unsafe_or_non_state_dict_files_are_refused(tmp_path) -> None:
    torch.save(argparse.Namespace(lr=1.0), tmp_path / "pickled.pth")
    with pytest.raises(UnreadableFileError, match=r"pickled\.pth.*argparse\.Namespace") as err:
        load_pretrained(tiny_resnet(0), tmp_path / "pickled.pth")
    assert "weights_only" not in str(err.value)  # never PyTorch's advice to load unsafely
    torch.save({"step": 3, "losses": [1.0, 2.0]}, tmp_path / "nomodel.pth")
    with pytest.raises(CheckpointMismatch, match="no state_dict"):
        load_pretrained(tiny_resnet(0), tmp_path / "nomodel.pth")


def test_a_model_file_recording_its_float_setting_loads_weights_only(tmp_path) -> None:
    """Model files record the float setting they were trained with (advent.runtime); the
    record must stay plain data, or ``weights_only=True`` loading refuses the file."""
    from advent.runtime import float_setting
    from advent.snapshot import load_segmenter, save_segmenter

    cfg = ModelConfig(width=4)
    save_segmenter(tmp_path / "model.pt", build_segmenter(cfg, 19), cfg, "cityscapes19",
                   info={"float_setting": float_setting()})
    _, model_file = load_segmenter(tmp_path / "model.pt")
    assert model_file["info"]["float_setting"]["torch"] == torch.__version__
