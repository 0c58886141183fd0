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
