"""End to end: `dvc repro` on tiny parameters in a fresh git repository, then
`dvc exp run -S adapt.minent...` reruns adapt@minent and what follows, not prepare
or pretrain. Slow-ish (a minute or two): every stage is a real process."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent

TINY = {
    ("data", "synthetic"): dict(height=32, width=64, source_train=8, target_train=8,
                                target_val=4, target_test=4),
    ("model",): dict(width=4),
    ("train",): dict(batch_size=4, checkpoint_every=1, log_every=1),
    ("pretrain",): dict(iterations=2),
    ("oracle",): dict(iterations=2),
    ("adapt",): dict(iterations=2),
    ("self_train",): dict(iterations=2),
    ("pseudo_label",): dict(batch_size=4),
    ("evaluate",): dict(batch_size=4, qualitative_samples=2, source_samples=4),
}


def _sh(args, cwd, env):
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("pipeline")
    for name in ("advent", "stages"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "dvc.yaml", repo)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for path, values in TINY.items():
        node = params
        for key in path:
            node = node[key]
        node.update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["DVC_NO_ANALYTICS"] = "1"
    dvc = [sys.executable, "-m", "dvc"]
    _sh(["git", "init", "-q"], repo, env)
    # CI may have no git identity: give this repository its own.
    _sh(["git", "config", "user.email", "test@example.invalid"], repo, env)
    _sh(["git", "config", "user.name", "pipeline test"], repo, env)
    _sh(dvc + ["init", "-q"], repo, env)
    _sh(["git", "add", "-A"], repo, env)
    _sh(["git", "commit", "-qm", "pipeline"], repo, env)
    log = _sh(dvc + ["repro"], repo, env)
    return repo, env, dvc, log


def test_repro_writes_every_stage_output(repo):
    repo, _, _, _ = repo
    for domain in ("source", "target"):
        assert (repo / "data/prepared" / domain / "meta.json").is_file()
    assert (repo / "data/pseudo/meta.json").is_file()
    methods = ("source_only", "minent", "advent", "self_train", "oracle")
    for m in methods:
        assert (repo / "models" / m / "model.pt").is_file()
        assert (repo / "dvclive" / m / "metrics.json").is_file()
    for m in methods + ("ensemble",):
        metrics = yaml.safe_load((repo / "metrics" / m / "test.json").read_text())
        assert 0.0 <= metrics["mIoU"] <= 100.0
        assert metrics["split"] == "test" and metrics["selection"] == "last checkpoint"
        assert (repo / "metrics" / m / "val.json").is_file()
    report = (repo / "reports/results.md").read_text()
    for label in ("source only", "MinEnt", "AdvEnt", "AdvEnt+MinEnt", "self-training",
                  "oracle (target labels)"):
        assert f"| {label} |" in report
    for png in ("per_class_iou", "qualitative", "reliability", "entropy_source_vs_target"):
        assert (repo / "reports" / f"{png}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_changing_an_adapt_parameter_skips_prepare_and_pretrain(repo):
    repo, env, dvc, _ = repo
    _sh(["git", "add", "-A"], repo, env)
    _sh(["git", "commit", "-qm", "results"], repo, env)
    log = _sh(dvc + ["exp", "run", "-S", "adapt.minent.lambda_ent_main=0.01"], repo, env)
    ran = {line.split("'")[1] for line in log.splitlines() if line.startswith("Running stage")}
    assert {"adapt@minent", "evaluate@minent", "evaluate_ensemble", "report"} <= ran
    assert not ran & {"prepare@source", "prepare@target", "pretrain", "oracle", "adapt@advent",
                      "pseudo_label", "self_train"}, ran
