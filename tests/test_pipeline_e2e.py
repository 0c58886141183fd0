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
    ("train",): dict(batch_size=4, checkpoint_every=1, log_every=1, snapshot_every=1),
    ("pretrain",): dict(iterations=2),
    ("oracle",): dict(iterations=2),
    ("adapt", "minent"): dict(iterations=2),
    ("adapt", "advent"): dict(iterations=2, d_width=4),
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
    # The stages import the copied package, not the one installed from this checkout.
    env["PYTHONPATH"] = str(repo)
    # Stages leave __pycache__ in advent/ as they would on a user's machine; .dvcignore
    # keeps that from looking like a changed dependency.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    dvc = [sys.executable, "-m", "dvc"]
    _sh(["git", "init", "-q"], repo, env)
    # CI may have no git identity: give this repository its own.
    _sh(["git", "config", "user.email", "test@example.invalid"], repo, env)
    _sh(["git", "config", "user.name", "pipeline test"], repo, env)
    _sh(dvc + ["init", "-q"], repo, env)
    shutil.copy(ROOT / ".dvcignore", repo)
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
    # The defaults train MinEnt with the class-ratio prior, and the labels say so.
    for label in ("source only", "MinEnt + CP", "AdvEnt", "AdvEnt+MinEnt + CP", "self-training",
                  "oracle (target labels)"):
        assert f"| {label} |" in report
    for png in ("per_class_iou", "qualitative", "confusion_matrices", "reliability",
                "entropy_source_vs_target"):
        assert (repo / "reports" / f"{png}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_best_on_test_selection_chooses_among_snapshots_and_says_so(repo, tmp_path):
    repo, env, _, _ = repo
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["evaluate"]["selection"] = "best_test"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert [p.name for p in (repo / "models/minent/snapshots").iterdir()] == ["iter_000001.pt"]
    _sh([sys.executable, "stages/evaluate.py", "--params", str(tmp_path / "params.yaml"),
         "--models", "models/minent/model.pt", "--out", str(tmp_path / "out")], repo, env)
    test = yaml.safe_load((tmp_path / "out/test.json").read_text())
    assert test["selection"].startswith("best snapshot on the reported test split")
    assert test["models"][0] in ("models/minent/snapshots/iter_000001.pt", "models/minent/model.pt")
    record = yaml.safe_load((tmp_path / "out/details.json").read_text())["selection"]
    scores = record["models/minent/model.pt"]
    assert [r["iteration"] for r in scores] == [1, None]
    best = max(scores, key=lambda r: (r["score"], r["iteration"] is None))
    assert test["models"][0] == best["path"] and abs(test["mIoU"] - best["score"]) < 1e-9


def test_changing_an_adapt_parameter_skips_prepare_and_pretrain(repo):
    repo, env, dvc, _ = repo
    _sh(["git", "add", "-A"], repo, env)
    _sh(["git", "commit", "-qm", "results"], repo, env)
    log = _sh(dvc + ["exp", "run", "-S", "adapt.minent.lambda_ent_main=0.01"], repo, env)
    ran = {line.split("'")[1] for line in log.splitlines() if line.startswith("Running stage")}
    # MinEnt is one of the pseudo-labelling ensemble (pseudo_label.models), so the
    # pseudo-labels and self-training follow it; nothing upstream or beside it reruns.
    assert ran == {"adapt@minent", "evaluate@minent", "evaluate_ensemble", "pseudo_label",
                   "self_train", "evaluate@self_train", "report"}, ran
