"""Presets switch the pipeline to the paper's setting; without the data the prepare
step says where the data must be."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from advent.data.domains import prepare_domain
from advent.params import load_params

ROOT = Path(__file__).resolve().parent.parent
PRESETS = sorted(p.stem for p in (ROOT / "presets").glob("*.yaml"))


def _apply(tmp_path, name) -> Path:
    params = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params)
    subprocess.run([sys.executable, str(ROOT / "scripts/use_preset.py"), name, "--params", str(params)],
                   check=True, capture_output=True)
    return params


@pytest.mark.parametrize("name", PRESETS)
def test_preset_gives_the_paper_setting(tmp_path, name):
    params = load_params(_apply(tmp_path, name))
    assert params.model.arch == "deeplabv2_resnet101" and params.model.multi_level
    assert params.model.preprocessing == "caffe_bgr" and params.model.freeze_bn_affine
    assert (params.train.lr, params.train.batch_size, params.train.lr_d) == (2.5e-4, 1, 1e-4)
    assert params.adapt.minent.lambda_ent_main == 1e-3 and params.adapt.advent.lambda_adv_aux == 2e-4
    assert params.data.target == "cityscapes"
    assert params.data.protocol == ("synthia16" if name.startswith("synthia") else "cityscapes19")
    # comments of params.yaml survive the merge
    assert "# read by every training stage" in (tmp_path / "params.yaml").read_text()


def test_preset_without_data_names_where_it_must_be(tmp_path, monkeypatch):
    params = load_params(_apply(tmp_path, "gta5_cityscapes"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"data\.gta5\.raw_root.*data/raw/gta5.*images/NNNNN\.png"):
        prepare_domain(params.data, "source", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unknown_preset_key_is_refused(tmp_path):
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "bad.yaml").write_text("train:\n  lr_typo: 1.0\n")
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    before = (tmp_path / "params.yaml").read_text()
    result = subprocess.run([sys.executable, str(ROOT / "scripts/use_preset.py"), "bad",
                             "--params", str(tmp_path / "params.yaml"),
                             "--presets", str(tmp_path / "presets")], capture_output=True, text=True)
    assert result.returncode != 0 and "train.lr_typo" in result.stderr
    assert (tmp_path / "params.yaml").read_text() == before


def test_real_pair_prepares_through_the_pipeline_entry_point(tmp_path):
    """SYNTHIA -> Cityscapes from raw folders via params: both domains in the 16-class
    space, Cityscapes split into train / val (hold-out) / test (official val)."""
    pytest.importorskip("cv2")
    from dataclasses import replace

    from tests.fixtures_raw import make_cityscapes, make_synthia

    from advent.data.prepared import PreparedDataset

    make_synthia(tmp_path / "raw/synthia", n=3, size=(20, 32))
    make_cityscapes(tmp_path / "raw/cityscapes", n_train=6, n_val=3, size=(16, 32))
    data = load_params(ROOT / "params.yaml").data
    data = replace(data, source="synthia", target="cityscapes",
                   synthia=replace(data.synthia, raw_root=str(tmp_path / "raw/synthia"), image_size=(10, 16)),
                   cityscapes=replace(data.cityscapes, raw_root=str(tmp_path / "raw/cityscapes"),
                                      image_size=(8, 16), val_count=2))
    prepare_domain(data, "source", tmp_path / "source", workers=1)
    prepare_domain(data, "target", tmp_path / "target", workers=1)
    source = PreparedDataset(tmp_path / "source", "train")
    assert source.protocol.name == "synthia16" and len(source) == 3
    assert source.image_size == (10, 16)
    counts = {split: len(PreparedDataset(tmp_path / "target", split)) for split in ("train", "val", "test")}
    assert counts == {"train": 4, "val": 2, "test": 3}
    _, label = PreparedDataset(tmp_path / "target", "test").read_arrays(0)
    assert set(label.ravel().tolist()) <= set(range(16)) | {255}
