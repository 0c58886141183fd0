"""The by-hand scripts (tuning, robustness, the root-cause checks) on bad input: one
line naming the culprit, no traceback, and nothing written. None of these runs DVC or
trains: each is refused before that."""
from __future__ import annotations

import pytest

from tests.stage_runs import ROOT, assert_one_clean_line, file_state, run_script


@pytest.mark.parametrize("content, culprit", [
    ("[1, 2]", "a JSON list, not an object"),
    ('{"runs": [], "command": "x", "selection": "last"}', "the record has no runs"),
    ('{"command": "x", "selection": "last", "runs": [{"seed": 0, "threads": 1, '
     '"cpu_capability": "avx2", "cpu": "c", "lambda_cp": {"source_only": null, "advent": null}, '
     '"mIoU": {"source_only": 20.0, "advent": null}}]}', "not a robustness record"),
])
def test_render_refuses_what_is_not_a_record(tmp_path, content, culprit):
    path = tmp_path / "bad.json"
    path.write_text(content)
    run = run_script("scripts/robustness.py", "--render", path)
    assert_one_clean_line(run, f"--render {path}", culprit)
    assert not path.with_suffix(".md").exists()


@pytest.mark.parametrize("setting, culprit", [
    ("intrada.with_source=maybe", "intrada.with_source"),
    ("intrada.nokey=1", "unknown parameter intrada.nokey"),
    ("train.seed=3", "train.seed is the table's own axis"),
    ("intrada.with_source", "expected key=value"),
])
def test_robustness_refuses_a_bad_set_before_queueing(setting, culprit):
    before = file_state(ROOT / "reports")
    run = run_script("scripts/robustness.py", "--set", setting)
    assert run.status == 2 and f"--set: {culprit}" in run.last_line, run.stderr
    assert file_state(ROOT / "reports") == before


def test_tune_collect_of_a_name_never_queued_says_so():
    name = "no-such-comparison-for-tests"
    assert not (ROOT / "reports" / "tuning" / f"{name}.json").exists()
    run = run_script("scripts/tune.py", name, "--collect")
    assert_one_clean_line(run, f"reports/tuning/{name}.json")
    assert run.status == 2


def test_tune_refuses_an_unknown_method_before_queueing(tune, capsys):
    name = "bad-method-for-tests"
    with pytest.raises(SystemExit) as stop:
        tune.main([name, "--methods", "bogus", "--variant", "a", "train.lr=0.01"])
    assert stop.value.code == 2 and "'bogus'" in capsys.readouterr().err
    assert not (ROOT / "reports" / "tuning" / f"{name}.json").exists()


@pytest.mark.parametrize("script, args", [
    ("scripts/bn_statistics_check.py", ["MODEL"]),
    ("scripts/divergence_check.py", ["--experiments", "a", "b", "--target", "MISSING"]),
])
def test_root_cause_checks_name_a_missing_input_in_one_line(tmp_path, script, args):
    missing = tmp_path / "nothing-here"
    args = [str(missing) if a in ("MODEL", "MISSING") else a for a in args]
    if script.endswith("bn_statistics_check.py"):
        args += ["--target", str(missing)]
    run = run_script(script, *args)
    assert_one_clean_line(run, str(missing))


def test_bn_statistics_check_names_a_model_file_that_is_text(tmp_path):
    model = tmp_path / "model.pt"
    model.write_text("not a model")
    (tmp_path / "target").mkdir()
    run = run_script("scripts/bn_statistics_check.py", model, "--target", tmp_path / "target")
    assert_one_clean_line(run)
    assert str(model) in run.last_line or str(tmp_path / "target") in run.last_line
    assert not any(p.suffix == ".json" for p in tmp_path.iterdir())


@pytest.mark.parametrize("setting, culprit", [
    ("train.lr=abc", "train.lr: expected a number, got 'abc'"),
    ("train.lr=", "train.lr: expected a number, got None"),
    ("train.nokey=1", "unknown parameter train.nokey"),
    ("nosection.lr=1", "nosection.lr: no such section in params.yaml"),
    ("train.threads=-1", "train.threads must be >= 0"),
    ("train.lr=[1", "train.lr: '[1' is not a YAML value"),
])
def test_tune_refuses_a_bad_variant_before_queueing(tune, capsys, setting, culprit):
    name = "bad-variant-for-tests"
    with pytest.raises(SystemExit) as stop:
        tune.main([name, "--variant", "good", "train.lr=0.01", "--variant", "bad", setting])
    assert f"--variant 'bad': {culprit}" in str(stop.value)
    assert not (ROOT / "reports" / "tuning" / f"{name}.json").exists()


def test_tune_accepts_a_good_variant(tune):
    tune.check_variant("good", {"train.lr": "0.01", "train.threads": "0"}, [0, 1])
    tune.check_variant("exponents", {"train.lr": "1e-3", "train.lr_d": "5.0e-5"}, [0])
