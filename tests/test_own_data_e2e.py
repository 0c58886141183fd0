"""Your own data end to end, as the README's "Your own data" runs it: `dvc repro` on the
example folders (scripts/own_data_example.py) with a custom 5-class map, the source
labelled in 16-bit values and in colours, the target with unlabelled train images of two
sizes and a val split colour-coded in another encoding, and no test labels (nor train
labels: the oracle is skipped). Then predict on new images of other sizes, and an edit
of a class map reruns only the preparation it feeds. Slow-ish: every stage is a process."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from scripts.own_data_example import CLASSES, PALETTE, TARGET_COLORS, make_example, write_class_map
from tests.pipeline_repo import make_repo, sh, stages_run
from tests.stage_runs import tiny_params

pytestmark = pytest.mark.slow

METHODS = ("source_only", "minent", "advent", "ensemble", "self_train")


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("own")
    make_example(repo / "data/own", n_source=8, n_target=6, n_val=3, size=(32, 64))
    params = tiny_params(**{
        "data.source": "folder", "data.target": "folder",
        "data.folder.source.image_size": [32, 64],
        "data.folder.target.image_size": [32, 64],
        "data.folder.target.class_map": "data/own/target_classes.yaml",
        "evaluate.selection": "best_val"})
    env, dvc = make_repo(repo, params)
    log = sh(dvc + ["repro"], repo, env)
    return repo, env, dvc, log


def _json(path):
    return json.loads(path.read_text())


def test_prepare_uses_the_class_map_and_marks_unlabelled_train(repo):
    repo, _, _, _ = repo
    source = _json(repo / "data/prepared/source/meta.json")
    assert source["protocol"] == "blocks5"
    assert [c["name"] for c in source["classes"]] == list(CLASSES)
    assert [tuple(c["color"]) for c in source["classes"]] == list(PALETTE)
    target = _json(repo / "data/prepared/target/meta.json")
    assert target["classes"] == source["classes"]  # the pair's protocol, the target's encoding
    assert set(target["splits"]) == {"train", "val"}
    assert target["splits"]["train"]["labelled"] is False and target["splits"]["train"]["count"] == 6
    assert "labelled" not in target["splits"]["val"] and target["splits"]["val"]["count"] == 3
    assert _json(repo / "data/fingerprints/source.json")["samples"] == 8


def test_no_target_labels_is_said_not_zeros(repo):
    repo, _, _, log = repo
    assert "oracle: skipped: no target labels" in log
    oracle = torch.load(repo / "models/oracle/model.pt", weights_only=True)
    assert oracle["format"] == "advent-skipped-v1" and "no target labels" in oracle["skipped"]
    assert _json(repo / "metrics/oracle/test.json") == {"oracle": {"test": "skipped"}}
    for m in METHODS:
        assert _json(repo / f"metrics/{m}/test.json") == {m: {"test": "no target labels"}}
        val = _json(repo / f"metrics/{m}/val.json")[m]["val"]
        assert set(val) == {"mIoU"} and 0.0 <= val["mIoU"] <= 100.0
        details = _json(repo / f"metrics/{m}/details.json")
        assert details["val"]["selection"] == "best snapshot on held-out target val"
        assert list(details["val"]["per_class_iou"]) == list(CLASSES)
        assert details["test"]["no_target_labels"] is True and "mIoU" not in details["test"]
        rows = _json(repo / f"metrics/{m}/per_class_iou.json")
        assert [r["class"] for r in rows] == list(CLASSES) and {r["IoU"] for r in rows} == {None}
    pseudo = _json(repo / "metrics/pseudo_label.json")["pseudo_label"]
    assert pseudo["accuracy"] == "no target labels" and 0.0 < pseudo["coverage"] <= 1.0
    assert [r["class"] for r in _json(repo / "metrics/pseudo_label_thresholds.json")] == list(CLASSES)


def test_report_names_the_maps_classes_and_says_what_is_missing(repo):
    repo, _, _, _ = repo
    report = (repo / "reports/results.md").read_text()
    assert "No target labels: the target has no labelled test split" in report
    assert "Protocol: blocks5 (mIoU over 5 classes" in report
    assert "| Method | " + " | ".join(CLASSES) + " | mIoU |" in report  # the val table
    assert "oracle (target labels): skipped (" in report
    assert "their accuracy against the (unused) ground truth: no target labels." in report
    for png in ("per_class_iou", "qualitative", "confusion_matrices", "reliability",
                "entropy_source_vs_target"):
        assert (repo / "reports" / f"{png}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    samples = np.load(repo / "metrics/advent/samples.npz")
    assert samples["prediction"].shape == (2, 32, 64) and samples["prediction"].max() < 5


def test_model_file_describes_itself_and_predict_maps_back_to_each_size(repo):
    repo, env, _, _ = repo
    model = torch.load(repo / "models/self_train/model.pt", weights_only=True)
    assert model["classes"] == [{"name": n, "color": list(c)} for n, c in zip(CLASSES, PALETTE)]
    assert model["input_size"] == [32, 64] and model["preprocessing"] == "imagenet_rgb"
    result = subprocess.run([sys.executable, "-m", "advent.tools.predict", "--model",
                             "models/self_train/model.pt", "--out", "predictions", "--quiet",
                             "data/own/new"], cwd=repo, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    sizes = set()
    for image in (repo / "data/own/new").iterdir():
        size = Image.open(image).size[::-1]
        assert np.asarray(Image.open(repo / "predictions/labels" / f"{image.stem}.png")).shape == size
        sizes.add(size)
    assert len(sizes) == 2
    header = (repo / "predictions/summary.csv").read_text().splitlines()[0].split(",")
    assert header[-5:] == list(CLASSES)


def test_a_class_map_edit_reruns_only_the_preparation_it_feeds(repo):
    repo, env, dvc, _ = repo
    unchanged = stages_run(sh(dvc + ["repro", "prepare@source", "prepare@target"], repo, env))
    assert unchanged == {"fingerprint@source", "fingerprint@target"}, unchanged
    write_class_map(repo / "data/own/target_classes.yaml", TARGET_COLORS, with_values=False,
                    extra={"ignore": {"colors": [[0, 0, 0], [1, 2, 3]]}})
    edited = stages_run(sh(dvc + ["repro", "prepare@source", "prepare@target"], repo, env))
    assert edited == {"fingerprint@source", "fingerprint@target", "prepare@target"}, edited
