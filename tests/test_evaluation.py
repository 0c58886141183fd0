"""Evaluation (advent.evaluation) and pseudo-labelling (advent.pseudo) of tiny models on
tiny prepared datasets, checked against direct computation."""
from pathlib import Path

import numpy as np
import pytest
import torch

from advent.data.labels import get_protocol
from advent.data.prepared import PreparedDataset, PreparedWriter
from advent.evaluation import evaluate_models, headline_metrics, per_class_rows
from advent.losses import entropy_map
from advent.metrics import summarize
from advent.models import ModelConfig, build_segmenter
from advent.params import EvaluateParams
from advent.predict import confusion_matrix_of, ensemble_logits
from advent.pseudo import (
    ConfidenceHistogram, pseudo_label_dataset, pseudo_label_metrics, select_pseudo_labels,
    threshold_rows,
)
from advent.snapshot import load_segmenter, save_segmenter

CS = get_protocol("cityscapes19")
SIZE = (16, 32)
CPU = torch.device("cpu")


def _dataset(root: Path, splits: dict[str, int], protocol: str = "cityscapes19", seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    n = get_protocol(protocol).num_classes
    with PreparedWriter(root, "toy", protocol, SIZE) as writer:
        for split, count in splits.items():
            for i in range(count):
                label = rng.integers(0, n, SIZE).astype(np.uint8)
                label[0, :4] = 255
                writer.add(split, f"{split}{i:03d}", rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8), label)
    return root


def _model(path: Path, seed: int, lambda_cp: float = 0.0) -> Path:
    torch.manual_seed(seed)
    cfg = ModelConfig(width=4)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_segmenter(path, build_segmenter(cfg, CS.num_classes), cfg, "cityscapes19",
                   info={"method_params": {"lambda_cp": lambda_cp}})
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    return {"target": _dataset(root / "target", {"test": 5, "val": 3, "train": 4}),
            "source": _dataset(root / "source", {"train": 3}, seed=1),
            "a": _model(root / "a" / "model.pt", 0, lambda_cp=0.2),
            "b": _model(root / "b" / "model.pt", 1)}


def test_evaluation_matches_direct_computation(world):
    cfg = EvaluateParams(batch_size=2, qualitative_samples=3, source_samples=2)
    result = evaluate_models([world["a"], world["b"]], world["target"], world["source"], cfg, CPU,
                             log=lambda _: None)
    models = [load_segmenter(world[k])[0] for k in "ab"]
    for split in ("test", "val"):
        dataset = PreparedDataset(world["target"], split)
        matrix = confusion_matrix_of(models, dataset, CPU, CS.num_classes)
        assert result.confusion_matrix[split] == matrix.tolist()
        record = result.splits[split]
        assert {k: record[k] for k in ("mIoU", "pixel_accuracy", "per_class_iou")} == \
            {k: summarize(matrix, CS)[k] for k in ("mIoU", "pixel_accuracy", "per_class_iou")}
        assert record["split"] == split and record["protocol"] == "cityscapes19"
        assert record["selection"] == "last checkpoint" and record["selection_rule"] == "last"
        assert record["models"] == [str(world["a"]), str(world["b"])]
        assert record["lambda_cp"] == 0.2  # the largest of the members'
    assert result.splits["test"]["ece"] == result.calibration["target_test"]["ece"]
    assert "ece" not in result.splits["val"]
    assert result.calibration["source_train"]["num_pixels"] == 2 * (SIZE[0] * SIZE[1] - 4)
    # The qualitative samples are the first test images, with the ensemble's prediction.
    test = PreparedDataset(world["target"], "test")
    images = torch.stack([test[i][0] for i in range(3)])
    logits = ensemble_logits(models, images)
    assert result.samples["image"].shape == (3, *SIZE, 3)
    np.testing.assert_array_equal(result.samples["prediction"], logits.argmax(1).numpy())
    np.testing.assert_allclose(result.samples["entropy"], entropy_map(logits).numpy(), atol=1e-3)
    details = result.details()
    assert details["test"] is result.splits["test"] and details["selection"] == {}


def test_weights_pick_a_member_and_best_val_picks_the_best_snapshot(world, tmp_path):
    cfg = EvaluateParams(batch_size=4, qualitative_samples=1, source_samples=1)
    alone = evaluate_models([world["a"]], world["target"], world["source"], cfg, CPU, log=lambda _: None)
    weighted = evaluate_models([world["a"], world["b"]], world["target"], world["source"], cfg, CPU,
                               weights=[1.0, 0.0], log=lambda _: None)
    assert weighted.splits["test"]["mIoU"] == alone.splits["test"]["mIoU"]
    assert weighted.splits["test"]["ensemble_weights"] == [1.0, 0.0]
    with pytest.raises(ValueError, match="2 ensemble weights for 1 models"):
        evaluate_models([world["a"]], world["target"], world["source"], cfg, CPU, weights=[1.0, 2.0])

    # A run whose snapshot is model a and whose final file is model b.
    final = tmp_path / "run" / "model.pt"
    final.parent.mkdir()
    final.write_bytes(world["b"].read_bytes())
    (tmp_path / "run" / "snapshots").mkdir()
    (tmp_path / "run" / "snapshots" / "iter_000001.pt").write_bytes(world["a"].read_bytes())
    best = evaluate_models([final], world["target"], world["source"],
                           EvaluateParams(selection="best_val", batch_size=4, qualitative_samples=1,
                                          source_samples=1), CPU, log=lambda _: None)
    scores = best.selection[str(final)]
    val_miou = {str(final): None, str(tmp_path / "run/snapshots/iter_000001.pt"): None}
    for path in val_miou:
        val_miou[path] = summarize(confusion_matrix_of([load_segmenter(path)[0]],
                                                      PreparedDataset(world["target"], "val"), CPU,
                                                      CS.num_classes), CS)["mIoU"]
    assert {r["path"]: r["score"] for r in scores} == val_miou
    chosen = max(val_miou, key=lambda p: (val_miou[p], p == str(final)))
    assert best.splits["test"]["models"] == [chosen]
    assert best.splits["val"]["mIoU"] == val_miou[chosen]
    assert best.splits["test"]["selection"] == "best snapshot on held-out target val"


def test_models_of_another_protocol_are_refused(world, tmp_path):
    target = _dataset(tmp_path / "synthia", {"test": 1, "val": 1}, protocol="synthia16")
    with pytest.raises(ValueError, match="cityscapes19.*synthia16"):
        evaluate_models([world["a"]], target, world["source"], EvaluateParams(), CPU)


def test_headline_metrics_and_plot_rows():
    sy = get_protocol("synthia16")
    record = {**summarize(np.eye(16, dtype=np.int64) * 5, sy), "protocol": "synthia16",
              "ece": 0.1, "auroc_entropy_wrong": 0.8, "mean_entropy": 0.2}
    assert headline_metrics("minent", "test", record) == {
        "minent": {"test": {"mIoU": 100.0, "mIoU13": 100.0, "ece": 0.1, "auroc": 0.8}}}
    assert headline_metrics("minent", "val", record) == {"minent": {"val": {"mIoU": 100.0, "mIoU13": 100.0}}}
    rows = per_class_rows(record)
    assert [r["class"] for r in rows] == list(sy.class_names) and rows[0]["IoU"] == 100.0


def test_pseudo_labels_are_the_selected_predictions_and_the_stats_count_them(world, tmp_path):
    models = [load_segmenter(world[k])[0] for k in "ab"]
    target = PreparedDataset(world["target"], "train")
    stats = pseudo_label_dataset(models, target, tmp_path / "pseudo", fraction=0.5, max_threshold=0.9,
                                 device=CPU, batch_size=3, extra_meta={"models": ["a", "b"]})
    images = torch.stack([target[i][0] for i in range(len(target))])
    labels = torch.stack([target[i][1] for i in range(len(target))])
    confidence, predicted = ensemble_logits(models, images).softmax(1).max(1)
    hist = ConfidenceHistogram(CS.num_classes)
    hist.update(confidence, predicted)
    np.testing.assert_array_equal(stats.thresholds, hist.thresholds(0.5, 0.9))
    expected = select_pseudo_labels(confidence, predicted, stats.thresholds)
    written = PreparedDataset(tmp_path / "pseudo", "train")
    assert written.ids == target.ids
    for i in range(len(target)):
        image, label, _ = written[i]
        torch.testing.assert_close(image, images[i])
        torch.testing.assert_close(label, expected[i].long())
    valid = expected != 255
    scored = valid & (labels != 255)
    assert stats.selected_fraction == valid.sum().item() / valid.numel()
    assert stats.pixel_accuracy_of_selected == \
        (scored & (expected.long() == labels)).sum().item() / scored.sum().item()
    assert 0 < stats.selected_fraction < 1
    meta = written.meta["pseudo_label"]
    assert meta["models"] == ["a", "b"] and meta["thresholds"] == stats.thresholds.tolist()
    assert pseudo_label_metrics(stats) == {"pseudo_label": {
        "coverage": stats.selected_fraction, "accuracy": stats.pixel_accuracy_of_selected}}
    rows = threshold_rows(stats, CS.class_names)
    assert [r["class"] for r in rows] == list(CS.class_names)
    assert rows[0]["threshold"] == round(float(stats.thresholds[0]), 4)
