"""End to end: `dvc repro` on tiny parameters in a fresh git repository, then
`dvc exp run -S adapt.minent...` reruns adapt@minent and what follows, not prepare
or pretrain, `dvc exp run -S rank.easy_fraction=...` reruns only the IntraDA stages and the
report, and `dvc plots diff` shows the figures of both revisions. Slow-ish (a
minute or two): every stage is a real process."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.pipeline_repo import make_repo, sh as _sh, stages_run
from tests.stage_runs import tiny_params

pytestmark = pytest.mark.slow  # whole `dvc repro` runs: minutes


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("pipeline")
    env, dvc = make_repo(repo, tiny_params())
    log = _sh(dvc + ["repro"], repo, env)
    return repo, env, dvc, log


def test_repro_writes_every_stage_output(repo):
    repo, _, _, _ = repo
    for domain in ("source", "target"):
        assert (repo / "data/prepared" / domain / "meta.json").is_file()
    assert (repo / "data/pseudo/meta.json").is_file()
    ranked = json.loads((repo / "data/ranked/meta.json").read_text())
    assert {s: ranked["splits"][s]["count"] for s in ("easy", "hard")} == {"easy": 5, "hard": 3}
    rank = json.loads((repo / "metrics/rank/rank.json").read_text())
    assert list(rank) == ["rank"] and set(rank["rank"]) == {"easy", "hard", "argmax", "class_balanced"}
    assert (repo / "reports/ranking.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    methods = ("source_only", "minent", "advent", "self_train", "intrada", "oracle")
    for m in methods:
        assert (repo / "models" / m / "model.pt").is_file()
        assert (repo / "dvclive" / m / "metrics.json").is_file()
    for m in methods + ("ensemble",):
        # The DVC metrics are the headline numbers only, under keys naming method and split.
        test = json.loads((repo / "metrics" / m / "test.json").read_text())
        assert list(test) == [m] and list(test[m]) == ["test"]
        assert set(test[m]["test"]) == {"mIoU", "ece", "auroc"}
        assert 0.0 <= test[m]["test"]["mIoU"] <= 100.0
        val = json.loads((repo / "metrics" / m / "val.json").read_text())
        assert list(val) == [m] and list(val[m]) == ["val"] and set(val[m]["val"]) == {"mIoU"}
        details = json.loads((repo / "metrics" / m / "details.json").read_text())
        assert details["test"]["split"] == "test" and details["test"]["selection"] == "last checkpoint"
        assert details["test"]["mIoU"] == test[m]["test"]["mIoU"]
        assert details["test"]["auroc_entropy_wrong"] == test[m]["test"]["auroc"]
        assert details["val"]["mIoU"] == val[m]["val"]["mIoU"]
        per_class = json.loads((repo / "metrics" / m / "per_class_iou.json").read_text())
        assert {r["class"]: r["IoU"] for r in per_class} == details["test"]["per_class_iou"]
    pseudo = json.loads((repo / "metrics/pseudo_label.json").read_text())
    assert list(pseudo) == ["pseudo_label"] and set(pseudo["pseudo_label"]) == {"coverage", "accuracy"}
    thresholds = json.loads((repo / "metrics/pseudo_label_thresholds.json").read_text())
    assert len(thresholds) == 19 and set(thresholds[0]) == {"class", "threshold"}
    report = (repo / "reports/results.md").read_text()
    # The defaults train MinEnt and AdvEnt with the class-ratio prior, and the labels say so.
    for label in ("source only", "AdaBN (target BN statistics)", "MinEnt + CP", "AdvEnt + CP",
                  "AdvEnt+MinEnt + CP", "self-training",
                  "IntraDA", "oracle (target labels)"):
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
    details = yaml.safe_load((tmp_path / "out/details.json").read_text())
    test = details["test"]
    assert test["selection"].startswith("best snapshot on the reported test split")
    assert test["models"][0] in ("models/minent/snapshots/iter_000001.pt", "models/minent/model.pt")
    record = details["selection"]
    scores = record["models/minent/model.pt"]
    assert [r["iteration"] for r in scores] == [1, None]
    best = max(scores, key=lambda r: (r["score"], r["iteration"] is None))
    assert test["models"][0] == best["path"] and abs(test["mIoU"] - best["score"]) < 1e-9


@pytest.fixture(scope="module")
def experiment(repo):
    """The results committed, then one `dvc exp run -S` in the workspace; its log."""
    repo, env, dvc, _ = repo
    _sh(["git", "add", "-A"], repo, env)
    _sh(["git", "commit", "-qm", "results"], repo, env)
    return _sh(dvc + ["exp", "run", "-S", "adapt.minent.lambda_ent_main=0.01"], repo, env)


def test_changing_an_adapt_parameter_skips_prepare_and_pretrain(experiment):
    ran = stages_run(experiment)
    # The pseudo-labelling and the ranking may use MinEnt (pseudo_label.models,
    # rank.models), so both run, find their outputs unchanged (the defaults label and
    # rank by AdvEnt alone), and self-training and intrada do not; nothing upstream or
    # beside it reruns but the input fingerprints, which run every time (and find the
    # data unchanged).
    assert ran == {"fingerprint@source", "fingerprint@target", "fingerprint@init",
                   "adapt@minent", "evaluate@minent", "evaluate_ensemble", "pseudo_label",
                   "rank", "report"}, ran


@pytest.fixture(scope="module")
def ranking_experiment(repo, experiment):
    """After the MinEnt experiment, one `dvc exp run -S` of the ranking's lambda; its log."""
    repo, env, dvc, _ = repo
    return _sh(dvc + ["exp", "run", "-S", "rank.easy_fraction=0.5"], repo, env)


def test_changing_the_ranking_fraction_reruns_only_intrada_and_the_report(repo, ranking_experiment):
    ran = stages_run(ranking_experiment)
    assert ran == {"fingerprint@source", "fingerprint@target", "fingerprint@init",
                   "rank", "intrada", "evaluate@intrada", "report"}, ran
    ranked = json.loads((repo[0] / "data/ranked/meta.json").read_text())
    assert {s: ranked["splits"][s]["count"] for s in ("easy", "hard")} == {"easy": 4, "hard": 4}


def test_exp_show_names_metric_columns_by_key_alone(repo, experiment):
    """No two metrics files share a key, so `dvc exp show` never prefixes a column with
    its file's path (metrics/minent/test.json:mIoU): the sweep table stays narrow."""
    repo, env, dvc, _ = repo
    shown = subprocess.run(dvc + ["exp", "show", "--json"], cwd=repo, env=env,
                           capture_output=True, text=True, check=True).stdout
    metrics = json.loads(shown)[0]["data"]["metrics"]
    keys: list[str] = []

    def flatten(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                flatten(v, f"{prefix}{k}.")
            else:
                keys.append(prefix + k)

    for content in metrics.values():
        flatten(content["data"])
    assert len(keys) == len(set(keys)), sorted(keys)
    assert "minent.test.mIoU" in keys and "pseudo_label.coverage" in keys
    # CSV: the rendered table hides a column whose values agree to 5 digits, and on these
    # tiny runs a changed mIoU may (7.556278 against 7.556257).
    header = _sh(dvc + ["exp", "show", "--only-changed", "--csv"], repo, env).splitlines()[0]
    columns = header.split(",")
    assert any(c.startswith("minent.test.") for c in columns), columns
    assert not any(".json:" in c for c in columns), columns


def test_plots_diff_shows_both_revisions_figures(repo, experiment):
    """`dvc plots diff HEAD` (the committed results against the experiment in the
    workspace) renders the per-class IoU of every method and the report's figures for both."""
    repo, env, dvc, _ = repo
    result = subprocess.run(dvc + ["plots", "diff", "HEAD", "--json"], cwd=repo, env=env,
                            capture_output=True, text=True, check=True)
    plots = json.loads(result.stdout)["data"]
    for m in ("source_only", "minent", "advent", "ensemble", "self_train", "intrada", "oracle"):
        (bars,) = plots[f"metrics/{m}/per_class_iou.json"]
        assert bars["type"] == "vega" and set(bars["revisions"]) == {"workspace", "HEAD"}
        rows = bars["content"]["data"]["values"]
        assert {r["rev"] for r in rows} == {"workspace", "HEAD"} and {"class", "IoU"} <= set(rows[0])
    (thresholds,) = plots["metrics/pseudo_label_thresholds.json"]
    assert set(thresholds["revisions"]) == {"workspace", "HEAD"}
    for png in ("per_class_iou", "qualitative", "confusion_matrices", "reliability",
                "entropy_source_vs_target"):
        images = plots[f"reports/{png}.png"]
        assert {i["type"] for i in images} == {"image"}
        assert {i["revisions"][0] for i in images} == {"workspace", "HEAD"}
        for image in images:
            assert Path(image["url"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_forced_rerun_of_a_finished_training_keeps_its_curves(repo):
    """DVC empties a stage's DVCLive folder before it runs; a training that resumes at its
    last iteration (a rerun with an unchanged fingerprint) must write the curves again."""
    repo, env, dvc, _ = repo
    curves = repo / "dvclive/source_only/plots/metrics"
    before = {p.relative_to(curves): p.read_text() for p in curves.rglob("*.tsv")}
    assert before and all(len(text.splitlines()) > 1 for text in before.values())
    log = _sh(dvc + ["repro", "--force", "--single-item", "pretrain"], repo, env)
    assert "resuming from models/source_only/resume.pt" in log
    assert {p.relative_to(curves): p.read_text() for p in curves.rglob("*.tsv")} == before
