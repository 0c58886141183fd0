"""A target with no labels at all (your own unlabelled images): evaluation, model
selection, pseudo-labels, the oracle and the report say "no target labels" instead of
printing zeros or failing later, and show what can be shown."""
from pathlib import Path

import numpy as np
import pytest
import torch

from advent.data.labels import custom_protocol
from advent.data.prepared import PreparedDataset, PreparedWriter
from advent.evaluation import evaluate_models, headline_metrics, per_class_rows
from advent.io import write_json
from advent.losses import entropy_map
from advent.models import ModelConfig, build_segmenter
from advent.params import EvaluateParams
from advent.predict import ensemble_logits
from advent.pseudo import pseudo_label_dataset, pseudo_label_metrics
from advent.report.results import write_report
from advent.snapshot import load_segmenter, read_model_file, save_segmenter, save_skipped

CPU = torch.device("cpu")
SIZE = (16, 32)
PROTOCOL = custom_protocol("mine", ("floor", "wall", "thing"), [(9, 9, 9), (90, 90, 90), (200, 0, 0)])
CFG = EvaluateParams(batch_size=2, qualitative_samples=2, source_samples=3)


def _prepared(root: Path, labelled: bool, count: int = 4, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    with PreparedWriter(root, "own", PROTOCOL, SIZE, unlabelled=() if labelled else ("train",)) as w:
        for i in range(count):
            label = (rng.integers(0, 3, SIZE) if labelled else np.full(SIZE, 255)).astype(np.uint8)
            w.add("train", f"{i:03d}", rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8), label)
    return root


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("nolabels")
    cfg = ModelConfig(width=4)
    torch.manual_seed(0)
    model = root / "models/minent/model.pt"
    model.parent.mkdir(parents=True)
    save_segmenter(model, build_segmenter(cfg, 3), cfg, PROTOCOL, input_size=SIZE)
    return {"root": root, "model": model, "source": _prepared(root / "source", True),
            "target": _prepared(root / "target", False, seed=1)}


def test_evaluation_says_no_target_labels_and_predicts_on_the_unlabelled_images(world):
    result = evaluate_models([world["model"]], world["target"], world["source"], CFG, CPU,
                             log=lambda _: None)
    for split in ("test", "val"):
        record = result.splits[split]
        assert record["no_target_labels"] is True and "mIoU" not in record
        assert record["protocol"] == "mine" and [c["name"] for c in record["classes"]] == ["floor", "wall", "thing"]
        assert headline_metrics("minent", split, record) == {"minent": {split: "no target labels"}}
        assert per_class_rows(record) == [{"class": c, "IoU": None} for c in PROTOCOL.class_names]
    assert result.confusion_matrix == {}
    target = result.calibration["target_train"]
    assert target["labelled"] is False and target["num_pixels"] == 3 * SIZE[0] * SIZE[1]
    assert result.calibration["source_train"]["ece"] is not None  # calibration on source
    images = torch.stack([PreparedDataset(world["target"], "train")[i][0] for i in range(2)])
    logits = ensemble_logits([load_segmenter(world["model"])[0]], images)
    np.testing.assert_array_equal(result.samples["prediction"], logits.argmax(1).numpy())
    np.testing.assert_allclose(result.samples["entropy"], entropy_map(logits).numpy(), atol=1e-3)
    assert (result.samples["label"] == 255).all()
    with pytest.raises(ValueError, match="evaluate.selection is best_val but .*target has no val "
                                         "split \\(no target labels\\)"):
        evaluate_models([world["model"]], world["target"], world["source"],
                        EvaluateParams(selection="best_val"), CPU)


def test_pseudo_label_accuracy_says_no_target_labels(world, tmp_path):
    target = PreparedDataset(world["target"], "train")
    stats = pseudo_label_dataset([load_segmenter(world["model"])[0]], target, tmp_path / "pseudo",
                                 0.5, 0.9, CPU, batch_size=2)
    assert stats.pixel_accuracy_of_selected is None and stats.selected_fraction > 0
    assert pseudo_label_metrics(stats)["pseudo_label"]["accuracy"] == "no target labels"
    pseudo = PreparedDataset(tmp_path / "pseudo", "train")
    assert pseudo.protocol == PROTOCOL and pseudo.labelled  # its labels are the pseudo-labels


def test_a_skipped_oracle_is_no_model_and_its_evaluation_says_why(world, tmp_path):
    oracle = tmp_path / "oracle/model.pt"
    oracle.parent.mkdir()
    save_skipped(oracle, "no target labels: unlabelled train")
    with pytest.raises(ValueError, match="oracle/model.pt holds no model: its stage was skipped "
                                         "\\(no target labels: unlabelled train\\)"):
        read_model_file(oracle)
    result = evaluate_models([oracle], world["target"], world["source"], CFG, CPU)
    assert result.splits["test"]["skipped"].endswith("no target labels: unlabelled train")
    assert headline_metrics("oracle", "test", result.splits["test"]) == {"oracle": {"test": "skipped"}}


def test_report_shows_what_it_can(world, tmp_path):
    metrics = tmp_path / "metrics"
    for method, model in (("minent", world["model"]), ("oracle", None)):
        if model is None:
            model = tmp_path / "oracle.pt"
            save_skipped(model, "no target labels: unlabelled train")
        result = evaluate_models([model], world["target"], world["source"], CFG, CPU, log=lambda _: None)
        write_json(metrics / method / "details.json", result.details())
        with open(metrics / method / "samples.npz", "wb") as f:
            np.savez_compressed(f, **result.samples)
    write_json(tmp_path / "pseudo.json", {"pseudo_label": {"coverage": 0.5, "accuracy": "no target labels"}})
    path = write_report(metrics, tmp_path / "report", ["minent", "oracle"], tmp_path / "pseudo.json")
    text = path.read_text()
    assert "## Target test (mine, last checkpoint)" in text
    assert text.count("No target labels: the target has no labelled") == 2  # test and val
    assert "oracle (target labels): skipped (" in text
    assert "ground truth: no target labels." in text
    for png in ("per_class_iou", "qualitative", "confusion_matrices", "reliability",
                "entropy_source_vs_target"):
        assert (tmp_path / "report" / f"{png}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_stage_skipped_once_trains_afresh_when_labels_come(world, tmp_path):
    from advent.params import load_params
    from advent.pipeline import skip_training, train_and_save
    from tests.stage_runs import write_params

    out = tmp_path / "oracle"
    (out / "snapshots").mkdir(parents=True)
    (out / "snapshots/iter_000001.pt").write_bytes(b"of an earlier run")
    skip_training(out, "no target labels")
    assert read_model_file(out / "model.pt", allow_skipped=True)["skipped"] == "no target labels"
    assert list((out / "snapshots").iterdir()) == []
    params = load_params(write_params(tmp_path / "params.yaml"))
    train_and_save("oracle", params, 1, PreparedDataset(world["source"], "train"), None, out)
    model = read_model_file(out / "model.pt")
    assert model["classes"][2] == {"name": "thing", "color": [200, 0, 0]}


def test_the_ranking_says_no_target_labels_for_its_diagnostics(world, tmp_path):
    from advent.params import RankParams
    from advent.ranking import rank_dataset
    target = PreparedDataset(world["target"], "train")
    cfg = RankParams(easy_fraction=0.5, labels="argmax", fraction=0.5, max_threshold=0.9, batch_size=2)
    stats = rank_dataset([load_segmenter(world["model"])[0]], target, tmp_path / "ranked", cfg,
                         CPU).metrics()["rank"]
    assert stats["easy"]["images"] == 2 and stats["hard"]["images"] == 2
    assert stats["easy"]["mIoU"] == stats["hard"]["mIoU"] == "no target labels"
    assert stats["argmax"] == {"coverage": 1.0, "accuracy": "no target labels"}
