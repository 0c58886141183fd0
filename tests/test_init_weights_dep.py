"""The pretrained weights are a DVC dependency of the trainings that start from them,
through ``data/fingerprints/init.json`` (the ``fingerprint@init`` stage): new bytes at the
same ``init.weights`` path rerun pretrain, the same bytes (a fresh clone's new mtime, say)
do not. A few seconds of tiny training per repro."""
import json

import pytest
import torch
import yaml

from advent.models import ModelConfig, build_segmenter
from advent.io import weights_fingerprint
from tests.pipeline_repo import make_repo, sh, stages_run
from tests.stage_runs import ROOT, assert_one_clean_line, run_script, tiny_params, write_params

pytestmark = pytest.mark.slow  # real `dvc repro` processes


def _save_backbone(path, seed: int) -> None:
    """The tiny network's backbone in the DeepLab ImageNet init layout ("Scale." keys)."""
    torch.manual_seed(seed)
    net = build_segmenter(ModelConfig(width=4), 19).net
    heads = ("layer5.", "layer6.")
    torch.save({f"Scale.{k}": v for k, v in net.state_dict().items() if not k.startswith(heads)}, path)


def test_weights_fingerprint_follows_the_bytes_and_names_the_key(tmp_path):
    assert weights_fingerprint("", "init.weights") == {"path": ""}
    path = tmp_path / "init.pt"
    _save_backbone(path, 0)
    first = weights_fingerprint(str(path), "init.weights")
    path.touch()  # a new mtime alone
    assert weights_fingerprint(str(path), "init.weights") == first
    _save_backbone(path, 1)
    assert weights_fingerprint(str(path), "init.weights")["sha256"] != first["sha256"]
    with pytest.raises(FileNotFoundError, match=r"init\.weights: no file at .*missing\.pt"):
        weights_fingerprint(str(tmp_path / "missing.pt"), "init.weights")


def test_new_weights_at_the_same_path_rerun_pretrain(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _save_backbone(repo / "init.pt", 0)
    env, dvc = make_repo(repo, tiny_params(**{"init.weights": "init.pt",
                                              "init.layout": "deeplab_imagenet"}))
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    subset = {"fingerprint": {**stages["fingerprint"], "foreach": ["source", "init"]},
              "prepare": {**stages["prepare"], "foreach": ["source"]},
              "pretrain": stages["pretrain"]}
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": subset}, sort_keys=False))

    assert "pretrain" in stages_run(sh(dvc + ["repro"], repo, env))
    recorded = json.loads((repo / "data/fingerprints/init.json").read_text())
    assert recorded["path"] == "init.pt" and len(recorded["sha256"]) == 64
    (repo / "init.pt").touch()
    assert stages_run(sh(dvc + ["repro"], repo, env)) == {"fingerprint@source", "fingerprint@init"}
    _save_backbone(repo / "init.pt", 1)
    log = sh(dvc + ["repro"], repo, env)
    assert "pretrain" in stages_run(log) and "resuming" not in log


def test_missing_weights_stop_the_fingerprint_stage_with_one_line_naming_the_key(tmp_path):
    params = write_params(tmp_path / "params.yaml", **{"init.weights": str(tmp_path / "nowhere.pt")})
    out = tmp_path / "init.json"
    run = run_script("stages/fingerprint.py", "--params", params, "--input", "init", "--out", out)
    assert_one_clean_line(run, "init.weights", "nowhere.pt")
    assert not out.exists()
