import dataclasses
from pathlib import Path

import pytest
import yaml

from advent.config import ConfigError, from_dict
from advent.params import load_params

ROOT = Path(__file__).resolve().parent.parent


def _write(tmp_path, data) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _defaults() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_repository_params_parse():
    params = load_params(ROOT / "params.yaml")
    assert params.model.arch == "deeplabv2_resnet_tiny"
    assert params.adapt.minent.entropy_range is None


def test_unknown_key_is_named(tmp_path):
    data = _defaults()
    data["adapt"]["advent"]["lambda_adv_mian"] = 0.1
    with pytest.raises(ConfigError, match=r"adapt\.advent\.lambda_adv_mian"):
        load_params(_write(tmp_path, data))


def test_wrong_type_is_named(tmp_path):
    data = _defaults()
    data["train"]["batch_size"] = "eight"
    with pytest.raises(ConfigError, match=r"train\.batch_size.*integer"):
        load_params(_write(tmp_path, data))


def test_missing_section_is_named(tmp_path):
    data = _defaults()
    del data["adapt"]
    with pytest.raises(ConfigError, match="missing parameter adapt"):
        load_params(_write(tmp_path, data))


def test_literal_and_validate(tmp_path):
    data = _defaults()
    data["model"]["arch"] = "resnet9000"
    with pytest.raises(ConfigError, match=r"model\.arch"):
        load_params(_write(tmp_path, data))
    data = _defaults()
    data["pseudo_label"]["fraction"] = 1.5
    with pytest.raises(ConfigError, match=r"pseudo_label\.fraction"):
        load_params(_write(tmp_path, data))


def test_int_accepted_as_float_but_bool_is_not():
    @dataclasses.dataclass
    class C:
        x: float
        r: tuple[float, float] | None = None

    assert from_dict(C, {"x": 1}).x == 1.0
    assert from_dict(C, {"x": 1, "r": [0, 0.3]}).r == (0.0, 0.3)
    with pytest.raises(ConfigError, match="x"):
        from_dict(C, {"x": True})
    with pytest.raises(ConfigError, match=r"r"):
        from_dict(C, {"x": 1, "r": [0.1]})


def test_cityscapes_only_keys(tmp_path):
    """The hold-out and the test label size belong to Cityscapes, the one dataset with
    val and test splits; elsewhere they are unknown keys."""
    data = _defaults()
    data["data"]["cityscapes"]["test_label_size"] = [1024, 2048]
    assert load_params(_write(tmp_path, data)).data.cityscapes.test_label_size == (1024, 2048)
    assert load_params(ROOT / "params.yaml").data.cityscapes.test_label_size is None
    data["data"]["cityscapes"]["test_label_size"] = [4, 2048]
    with pytest.raises(ConfigError, match=r"data\.cityscapes\.test_label_size: each side must be in \[8, 8192\]"):
        load_params(_write(tmp_path, data))
    data = _defaults()
    data["data"]["gta5"]["val_count"] = 10
    with pytest.raises(ConfigError, match=r"unknown parameter data\.gta5\.val_count"):
        load_params(_write(tmp_path, data))


def test_field_paths_name_every_nested_key():
    from advent.config import field_paths, mapping_paths
    from advent.params import Params

    paths = field_paths(Params)
    assert {"data.cityscapes.test_label_size", "data.gta5.image_size", "adapt.minent.cp_mu",
            "train.seed"} <= set(paths)
    assert "data.gta5.val_count" not in paths and "adapt.minent" not in paths
    assert mapping_paths({"a": {"b": 1, "c": [1, 2]}, "d": None}) == ["a.b", "a.c", "d"]
