"""Presets are complete parameter files that equal the paper, key by key;
``scripts/use_preset.py`` replaces params.yaml with one; without the data the prepare
step says where the data must be."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from advent.config import field_paths, load_yaml, mapping_paths
from advent.data.domains import prepare_domain
from advent.params import Params, load_params

ROOT = Path(__file__).resolve().parent.parent
PRESETS = sorted(p.stem for p in (ROOT / "presets").glob("*.yaml"))

# The paper's values, from the reference (ADVENT paper and official config): GTA5 -> Cityscapes.
PAPER_GTA5 = {
    "data.source": "gta5",
    "data.target": "cityscapes",
    "data.gta5.image_size": [720, 1280],            # 1280x720 (W x H), no crop
    "data.gta5.on_size_mismatch": "resize",         # image and label each resized to the input size
    "data.cityscapes.image_size": [512, 1024],      # 1024x512
    "data.cityscapes.test_label_size": [1024, 2048],  # scored at 2048x1024, logits upsampled
    "model.arch": "deeplabv2_resnet101",
    "model.multi_level": True,
    "model.preprocessing": "caffe_bgr",             # RGB->BGR, Caffe mean, no 1/255
    "model.freeze_bn_affine": True,
    "init.weights": "data/pretrained/DeepLab_resnet_pretrained_imagenet.pth",
    "init.layout": "deeplab_imagenet",              # adaptation starts from the ImageNet init
    "train.seed": 1234,
    "train.batch_size": 1,
    "train.lr": 2.5e-4,
    "train.momentum": 0.9,
    "train.weight_decay": 5e-4,
    "train.head_lr_mult": 10.0,
    "train.poly_power": 0.9,
    "train.schedule_iterations": 250_000,
    "train.warmup_iterations": 0,
    "train.ema_decay": 0.0,
    "train.lr_d": 1e-4,
    "train.lambda_seg_aux": 0.1,
    "train.workers": 4,
    "train.snapshot_every": 2000,
    "adapt.minent.start_from": "init",
    "adapt.minent.iterations": 120_000,
    "adapt.minent.lambda_ent_main": 1e-3,
    "adapt.minent.lambda_ent_aux": 2e-4,
    "adapt.minent.entropy_range": None,              # no ER
    "adapt.minent.lambda_cp": 0.0,                   # no class-ratio prior
    "adapt.minent.cp_mu": 0.5,
    "adapt.advent.start_from": "init",
    "adapt.advent.iterations": 120_000,
    "adapt.advent.lambda_adv_main": 1e-3,
    "adapt.advent.lambda_adv_aux": 2e-4,
    "adapt.advent.d_width": 64,
    "adapt.advent.d_layers": 5,
    "adapt.advent.lambda_cp": 0.0,
    "adapt.advent.cp_mu": 0.5,
    "evaluate.batch_size": 1,
    # IntraDA (Pan et al., CVPR 2020) on top of AdvEnt: lambda 0.67, argmax labels, no
    # normaliser, every training value ADVENT's.
    "rank.models": ["advent"],
    "rank.easy_fraction": 0.67,
    "rank.rare_class_normaliser": False,
    "rank.labels": "argmax",
    "rank.batch_size": 1,
    "intrada.start_from": "init",
    "intrada.with_source": False,
    "intrada.iterations": 120_000,
    "intrada.lambda_adv_main": 1e-3,
    "intrada.lambda_adv_aux": 2e-4,
    "intrada.d_width": 64,
    "intrada.d_layers": 5,
    "intrada.lambda_cp": 0.0,
    "intrada.cp_mu": 0.5,
}
# SYNTHIA -> Cityscapes: the same but the source (1280x760, the 16-class protocol).
PAPER_SYNTHIA = {**{k: v for k, v in PAPER_GTA5.items() if not k.startswith("data.gta5.")},
                 "data.source": "synthia", "data.synthia.image_size": [760, 1280]}
PAPER = {"gta5_cityscapes": (PAPER_GTA5, "cityscapes19"),
         "synthia_cityscapes": (PAPER_SYNTHIA, "synthia16")}
# Where a preset knowingly differs from the paper (its comment must say "not the paper").
NOT_THE_PAPER = {
    "data.cityscapes.val_count": 200,   # a held-out val split for model selection
    "evaluate.selection": "last",       # not the official best-of-60-snapshots-on-val
}
NO_COUNTERPART = ("no paper counterpart", "unused by this preset")


def _yaml(name: str):
    return YAML().load((ROOT / "presets" / f"{name}.yaml").read_text())


def _value(tree, key: str):
    for part in key.split("."):
        tree = tree[part]
    return tree


def _comments(tree, key: str) -> str:
    """The comments on the lines of ``key`` and of every section above it."""
    found = []
    for part in key.split("."):
        token = tree.ca.items.get(part, [None, None, None])[2]
        if token is not None:
            found.append(token.value)
        tree = tree[part]
    return " ".join(found).lower()


def test_preset_list_covers_both_pairs():
    assert set(PRESETS) == set(PAPER)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_names_exactly_the_schema_keys_and_loads_strictly(name):
    path = ROOT / "presets" / f"{name}.yaml"
    named = mapping_paths(load_yaml(path))
    assert sorted(named) == sorted(field_paths(Params))
    assert len(named) == len(set(named))
    load_params(path)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_equals_the_paper_key_by_key(name):
    paper, protocol = PAPER[name]
    tree = _yaml(name)
    for key in field_paths(Params):
        value, comment = _value(tree, key), _comments(tree, key)
        if key in paper:
            assert value == paper[key], f"{name}: {key} is {value!r}, the paper's is {paper[key]!r}"
            assert not any(m in comment for m in NO_COUNTERPART + ("not the paper",)), \
                f"{name}: {key} holds the paper's value but its comment says otherwise: {comment}"
        elif key in NOT_THE_PAPER:
            assert value == NOT_THE_PAPER[key], f"{name}: {key} is {value!r}"
            assert "not the paper" in comment, f"{name}: {key} differs from the paper silently"
        else:
            assert any(m in comment for m in NO_COUNTERPART), \
                f"{name}: {key} has no paper value; its comment must say so: {comment!r}"
    params = load_params(ROOT / "presets" / f"{name}.yaml")
    assert params.data.protocol == protocol
    # stop at 120k of a 250k poly schedule: the paper's early stop
    assert params.adapt.advent.iterations < params.train.schedule_iterations


def _apply(tmp_path, name, presets: Path = ROOT / "presets") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts/use_preset.py"), name,
                           "--params", str(tmp_path / "params.yaml"), "--presets", str(presets)],
                          capture_output=True, text=True)


@pytest.mark.parametrize("name", PRESETS)
def test_use_preset_replaces_params_with_the_preset(tmp_path, name):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    result = _apply(tmp_path, name)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "params.yaml").read_bytes() == (ROOT / "presets" / f"{name}.yaml").read_bytes()
    # nothing of the embedded benchmark's tuning log is left behind
    assert "lambda_cp: 0.2" not in (tmp_path / "params.yaml").read_text()


def test_use_preset_help_and_list():
    def run(*args: str) -> str:
        return subprocess.run([sys.executable, str(ROOT / "scripts/use_preset.py"), *args],
                              capture_output=True, text=True, check=True).stdout
    assert "git checkout params.yaml" in run("--help")
    assert run("--list").split() == PRESETS


@pytest.mark.parametrize("bad, message", [
    ("unknown", r"unknown parameter train\.lr_typo"),
    ("incomplete", r"does not set data\.cityscapes\.test_label_size"),
    ("invalid", r"train\.batch_size must be >= 1"),
])
def test_bad_preset_is_refused_and_params_kept(tmp_path, bad, message):
    text = (ROOT / "presets" / "gta5_cityscapes.yaml").read_text()
    edits = {"unknown": ("  lr: 0.00025", "  lr: 0.00025\n  lr_typo: 1.0"),
             "incomplete": ("    test_label_size: [1024, 2048]", ""),
             "invalid": ("  batch_size: 1 ", "  batch_size: 0 ")}
    old, new = edits[bad]
    assert old in text
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "bad.yaml").write_text(text.replace(old, new, 1))
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    before = (tmp_path / "params.yaml").read_bytes()
    result = _apply(tmp_path, "bad", tmp_path / "presets")
    assert result.returncode != 0
    assert re.search(message, result.stderr), result.stderr
    assert (tmp_path / "params.yaml").read_bytes() == before


def test_preset_without_data_names_where_it_must_be(tmp_path, monkeypatch):
    params = load_params(ROOT / "presets" / "gta5_cityscapes.yaml")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"data\.gta5\.raw_root.*data/raw/gta5.*images/NNNNN\.png"):
        prepare_domain(params.data, "source", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_real_pair_prepares_through_the_pipeline_entry_point(tmp_path):
    """SYNTHIA -> Cityscapes from raw folders via params: both domains in the 16-class
    space, Cityscapes split into train / val (hold-out) / test (official val), the test
    labels kept at data.cityscapes.test_label_size while every image is resized."""
    pytest.importorskip("cv2")
    from dataclasses import replace

    from tests.fixtures_raw import make_cityscapes, make_synthia

    from advent.data.prepared import PreparedDataset

    make_synthia(tmp_path / "raw/synthia", n=3, size=(20, 32))
    make_cityscapes(tmp_path / "raw/cityscapes", n_train=6, n_val=3, size=(16, 32))
    data = load_params(ROOT / "presets" / "synthia_cityscapes.yaml").data
    data = replace(data,
                   synthia=replace(data.synthia, raw_root=str(tmp_path / "raw/synthia"), image_size=(10, 16)),
                   cityscapes=replace(data.cityscapes, raw_root=str(tmp_path / "raw/cityscapes"),
                                      image_size=(8, 16), val_count=2, test_label_size=(16, 32)))
    prepare_domain(data, "source", tmp_path / "source", workers=1)
    prepare_domain(data, "target", tmp_path / "target", workers=1)
    source = PreparedDataset(tmp_path / "source", "train")
    assert source.protocol.name == "synthia16" and len(source) == 3
    assert source.image_size == (10, 16)
    target = {split: PreparedDataset(tmp_path / "target", split) for split in ("train", "val", "test")}
    assert {split: len(ds) for split, ds in target.items()} == {"train": 4, "val": 2, "test": 3}
    image, label = target["test"].read_arrays(0)
    assert image.shape == (8, 16, 3) and label.shape == (16, 32)  # full-resolution test labels
    assert set(label.ravel().tolist()) <= set(range(16)) | {255}
    assert [ds.read_arrays(0)[1].shape for ds in (target["train"], target["val"])] == [(8, 16)] * 2
