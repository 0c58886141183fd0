import dataclasses
import re
import typing
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


#: A value outside its meaningful range for every numeric parameter of the schema (a
#: new numeric field must get a range check and a line here: see the test below).
OUT_OF_RANGE = [
    ("data.synthetic.seed", -1), ("data.synthetic.height", 4), ("data.synthetic.width", 9000),
    ("data.synthetic.gap", 2.5), ("data.synthetic.source_train", 0),
    ("data.synthetic.target_train", 0), ("data.synthetic.target_val", 0),
    ("data.synthetic.target_test", 1_000_000),
    ("data.gta5.image_size", [720, 9000]), ("data.synthia.image_size", [4, 1280]),
    ("data.cityscapes.image_size", [0, 0]), ("data.cityscapes.val_count", -1),
    ("data.cityscapes.seed", -1), ("data.cityscapes.test_label_size", [1024, 10_000]),
    ("data.folder.source.image_size", [4, 64]), ("data.folder.target.image_size", [64, 9000]),
    ("data.folder.target.val_count", -1), ("data.folder.target.seed", -2),
    ("model.width", 0), ("model.width", 5000),
    ("train.seed", -1), ("train.threads", -1), ("train.batch_size", 0), ("train.lr", 0.0),
    ("train.lr", float("inf")),
    ("train.momentum", 1.0), ("train.weight_decay", -0.1), ("train.head_lr_mult", 0.0),
    ("train.poly_power", 0.0), ("train.schedule_iterations", -1), ("train.warmup_iterations", -1),
    ("train.ema_decay", -0.1), ("train.ema_decay", 1.0),
    ("train.lr_d", -1e-4),
    ("train.lambda_seg_aux", -0.1), ("train.grad_accum", 0), ("train.grad_accum", 3),
    ("train.workers", -1), ("train.checkpoint_every", 0), ("train.snapshot_every", -1),
    ("train.log_every", 0),
    ("pretrain.iterations", -5), ("pretrain.warmup_iterations", -1), ("oracle.iterations", 0),
    ("adapt.minent.iterations", 0), ("adapt.minent.lambda_ent_main", -1.0),
    ("adapt.minent.lambda_ent_aux", float("nan")), ("adapt.minent.entropy_range", [0.5, 0.2]),
    ("adapt.minent.lambda_cp", -0.2), ("adapt.minent.cp_mu", 0.0),
    ("adapt.advent.iterations", -1), ("adapt.advent.lambda_adv_main", -0.1),
    ("adapt.advent.lambda_adv_aux", -0.1), ("adapt.advent.d_width", 0),
    ("adapt.advent.d_layers", 1), ("adapt.advent.d_layers", 7),  # 7 halvings of 64 rows: none left
    ("adapt.advent.lambda_cp", -1.0), ("adapt.advent.cp_mu", 1.5),
    ("pseudo_label.fraction", 0.0), ("pseudo_label.max_threshold", 1.2),
    ("pseudo_label.batch_size", 0),
    ("self_train.iterations", 0), ("self_train.lambda_target", -1.0),
    ("self_train.lambda_source", -1.0),
    ("rank.easy_fraction", 0.0), ("rank.easy_fraction", 1.0), ("rank.fraction", 0.0),
    ("rank.max_threshold", 1.5), ("rank.batch_size", 0),
    ("intrada.iterations", 0), ("intrada.lambda_adv_main", -0.1),
    ("intrada.lambda_adv_aux", float("nan")), ("intrada.d_width", 0),
    ("intrada.d_layers", 1), ("intrada.d_layers", 7),  # 7 halvings of 64 rows: none left
    ("intrada.lambda_cp", -1.0), ("intrada.cp_mu", 0.0),
    ("adabn.batch_size", 0), ("evaluate.batch_size", 0), ("evaluate.qualitative_samples", 0),
    ("evaluate.source_samples", 0),
]


def _set(data: dict, dotted: str, value) -> dict:
    *parents, last = dotted.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return data


@pytest.mark.parametrize("key, value", OUT_OF_RANGE)
def test_out_of_range_value_is_refused_naming_its_key(tmp_path, key, value):
    data = _set(_defaults(), key, value)
    with pytest.raises(ConfigError, match=re.escape(key)):
        load_params(_write(tmp_path, data))


def _numeric(tp) -> bool:
    args = [a for a in typing.get_args(tp) if a is not type(None)] or [tp]
    return all(a in (int, float) or _numeric(a) for a in args) if typing.get_args(tp) else tp in (int, float)


def _leaf_type(cls, dotted: str):
    for name in dotted.split("."):
        tp = typing.get_type_hints(cls)[name]
        cls = tp
    return tp


def test_every_numeric_parameter_has_its_range_checked():
    from advent.config import field_paths
    from advent.params import Params

    numeric = {p for p in field_paths(Params) if _numeric(_leaf_type(Params, p))}
    covered = {key for key, _ in OUT_OF_RANGE}
    assert numeric - covered == set(), "numeric parameters without an out-of-range case"


@pytest.mark.parametrize("changes, key", [
    ({"evaluate.selection": "best_val", "train.snapshot_every": 0}, "train.snapshot_every"),
    ({"self_train.lambda_target": 0.0, "self_train.lambda_source": 0.0}, "self_train"),
    ({"pseudo_label.models": ["minent", "minent"]}, "pseudo_label.models"),
    ({"rank.models": []}, "rank.models"),
    ({"intrada.start_from": "source_only"}, "intrada.start_from"),
    ({"train.device": "cuda:x"}, "train.device"),
    ({"data.gta5.raw_root": " ", "data.source": "gta5", "data.target": "cityscapes"},
     "data.gta5.raw_root"),
    ({"data.source": "folder", "data.target": "folder", "data.folder.source.class_map": ""},
     "data.folder.source.class_map"),
    ({"data.source": "folder", "data.target": "synthetic"}, "both be synthetic or both real"),
    ({"data.folder.target.root": " ", "data.target": "folder", "data.source": "gta5"},
     "data.folder.target.root"),
    ({"data.source": "gta5", "data.target": "folder", "data.folder.target.image_size": [16, 64]},
     "adapt.advent.d_layers"),  # 5 stride-2 layers leave nothing of 16 rows
])
def test_inconsistent_values_are_refused_naming_a_key(tmp_path, changes, key):
    data = _defaults()
    for dotted, value in changes.items():
        _set(data, dotted, value)
    with pytest.raises(ConfigError, match=re.escape(key)):
        load_params(_write(tmp_path, data))


def test_exponent_without_a_dot_is_a_number(tmp_path):
    """YAML 1.2, as DVC reads params.yaml: PyYAML's 1.1 rules would read 1e-3 as text."""
    path = _write(tmp_path, _set(_defaults(), "train.lr", "1e-3"))
    assert "lr: 1e-3\n" in path.read_text()
    assert load_params(path).train.lr == 0.001


def test_a_value_dvc_exp_run_set_loads_as_written(tmp_path):
    """`dvc exp run -S train.lr_d=5.0e-5` rewrites params.yaml with DVC's own function,
    which writes 5e-05: the stages must read that as the number it is."""
    from dvc.utils.hydra import apply_overrides
    path = tmp_path / "params.yaml"
    path.write_text((ROOT / "params.yaml").read_text())
    apply_overrides(path, ["train.lr_d=5.0e-5", "train.lr=1e-3"])
    assert "lr_d: 5e-05" in path.read_text()
    params = load_params(path)
    assert params.train.lr_d == 5.0e-5 and params.train.lr == 0.001


def test_a_quoted_number_is_still_text(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text((ROOT / "params.yaml").read_text().replace("lr_d: 0.0001", "lr_d: '1e-4'", 1))
    with pytest.raises(ConfigError, match=r"train\.lr_d: expected a number, got '1e-4'"):
        load_params(path)
