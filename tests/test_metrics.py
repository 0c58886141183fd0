"""Evaluation metrics against hand-computed cases."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from advent.data.labels import get_protocol
from advent.calibration import CalibrationAccumulator
from advent.metrics import ConfusionMatrix, iou_per_class, summarize

# --- confusion matrix / IoU ---------------------------------------------------------------

# (gt, pred) pairs: (0,0) (0,1) (1,1) ignored (2,2) (1,1) (1,0) (0,0)
GT = np.array([[0, 0, 1, 255], [2, 1, 1, 0]], dtype=np.uint8)
PRED = np.array([[0, 1, 1, 2], [2, 1, 0, 0]], dtype=np.int64)
EXPECTED = np.array([[2, 1, 0], [1, 2, 0], [0, 0, 1]], dtype=np.int64)


def test_confusion_matrix_hand_computed_rows_are_ground_truth():
    cm = ConfusionMatrix(3)
    cm.update(PRED, GT)
    assert cm.matrix.dtype == np.int64
    np.testing.assert_array_equal(cm.matrix, EXPECTED)
    # Rows = GT: a GT-1 pixel predicted 0 sits at [1, 0], not [0, 1] (they differ only by that).
    cm2 = ConfusionMatrix(3)
    cm2.update(np.array([0]), np.array([1]))
    assert cm2.matrix[1, 0] == 1 and cm2.matrix[0, 1] == 0


def test_confusion_matrix_accumulates_and_takes_torch():
    cm = ConfusionMatrix(3)
    cm.update(torch.from_numpy(PRED)[None], torch.from_numpy(GT.astype(np.int64))[None])  # (1, H, W)
    cm.update(PRED.ravel(), GT.ravel())  # any equal shape
    np.testing.assert_array_equal(cm.matrix, 2 * EXPECTED)
    other = ConfusionMatrix(3)
    other.update(PRED, GT)
    cm.merge(other)
    np.testing.assert_array_equal(cm.matrix, 3 * EXPECTED)


def test_iou_hand_computed():
    iou = iou_per_class(EXPECTED)
    np.testing.assert_allclose(iou, [2 / 4, 2 / 4, 1.0])
    m = summarize(EXPECTED, _toy_protocol(3))
    assert m["mIoU"] == pytest.approx(100 * 2 / 3)
    assert m["pixel_accuracy"] == pytest.approx(100 * 5 / 7)
    assert m["num_pixels"] == 7


def _toy_protocol(n):
    from advent.data.labels import Protocol

    return Protocol("toy", tuple(f"c{i}" for i in range(n)), {})


def test_absent_class_is_nan_and_excluded_predicted_but_absent_is_zero():
    # 4 classes: class 3 never in GT nor prediction -> NaN; class 2 only predicted -> 0.
    gt = np.array([0, 0, 1, 1, 0])
    pred = np.array([0, 0, 1, 2, 0])
    cm = ConfusionMatrix(4)
    cm.update(pred, gt)
    iou = iou_per_class(cm.matrix)
    assert math.isnan(iou[3])
    assert iou[2] == 0.0
    np.testing.assert_allclose(iou[:2], [1.0, 0.5])
    m = summarize(cm.matrix, _toy_protocol(4))
    assert m["mIoU"] == pytest.approx(100 * (1.0 + 0.5 + 0.0) / 3)  # NaN left out, 0 kept
    assert m["per_class_iou"] == {"c0": 100.0, "c1": 50.0, "c2": 0.0, "c3": None}
    json.dumps(m, allow_nan=False)  # JSON-serialisable, no NaN


def test_synthia16_miou13_subset():
    proto = get_protocol("synthia16")
    n = proto.num_classes
    m = np.diag(np.full(n, 10, dtype=np.int64))
    for name in ("wall", "fence", "pole"):  # always predicted as road: IoU 0
        c = proto.class_names.index(name)
        m[c, c] = 0
        m[c, 0] = 10
    # road: tp 10, GT 10, predicted 40 -> 10 / 40
    out = summarize(m, proto)
    assert out["per_class_iou"]["road"] == pytest.approx(25.0)
    assert out["per_class_iou"]["wall"] == 0.0
    assert out["mIoU"] == pytest.approx(100 * (0.25 + 12) / 16)
    assert out["mIoU13"] == pytest.approx(100 * (0.25 + 12) / 13)
    assert list(out)[:2] == ["mIoU", "mIoU13"]


def test_empty_matrix_gives_none_not_nan():
    out = summarize(np.zeros((19, 19), dtype=np.int64), get_protocol("cityscapes19"))
    assert out["mIoU"] is None and out["pixel_accuracy"] is None
    json.dumps(out, allow_nan=False)


def test_confusion_matrix_errors():
    cm = ConfusionMatrix(3)
    with pytest.raises(ValueError, match=r"\(2, 4\).*\(4, 2\)"):
        cm.update(np.zeros((2, 4), dtype=np.int64), np.zeros((4, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="predictions must lie in"):
        cm.update(np.array([3]), np.array([0]))
    with pytest.raises(ValueError, match="predictions must lie in"):
        cm.update(np.array([-1]), np.array([255]))
    with pytest.raises(ValueError, match="another protocol"):
        cm.update(np.array([0]), np.array([5]))
    with pytest.raises(TypeError, match="integer"):
        cm.update(np.array([0.0]), np.array([0]))
    assert cm.matrix.sum() == 0  # failed updates add nothing
    with pytest.raises(ValueError, match="16 classes"):
        summarize(np.zeros((19, 19)), get_protocol("synthia16"))
    with pytest.raises(ValueError, match="square"):
        iou_per_class(np.zeros((3, 4)))


# --- calibration ---------------------------------------------------------------------------


def _maps(conf, correct_frac, n=1000):
    """Confidence map of one value, with the first correct_frac of pixels right."""
    gt = np.zeros(n, dtype=np.int64)
    pred = np.ones(n, dtype=np.int64)
    pred[: int(round(correct_frac * n))] = 0
    return np.full(n, conf), pred, gt


def test_ece_zero_when_calibrated():
    acc = CalibrationAccumulator(num_bins=10)
    acc.update_from_maps(*_maps(0.8, 0.8))
    r = acc.result()
    assert r["ece"] == pytest.approx(0.0, abs=1e-12)
    assert r["accuracy"] == pytest.approx(0.8)


def test_ece_half_when_overconfident():
    acc = CalibrationAccumulator()
    acc.update_from_maps(*_maps(1.0, 0.5))
    r = acc.result()
    assert r["ece"] == pytest.approx(0.5)
    assert r["mce"] == pytest.approx(0.5)
    assert r["reliability"]["count"][-1] == 1000  # confidence 1.0 lands in the last bin


def test_ece_is_count_weighted_over_bins():
    # 300 px at conf 0.95 all right (gap 0.05), 100 px at conf 0.55 all wrong (gap 0.55).
    c1, p1, g1 = _maps(0.95, 1.0, 300)
    c2, p2, g2 = _maps(0.55, 0.0, 100)
    acc = CalibrationAccumulator(num_bins=10)
    acc.update_from_maps(np.r_[c1, c2], np.r_[p1, p2], np.r_[g1, g2])
    r = acc.result()
    assert r["ece"] == pytest.approx(0.75 * 0.05 + 0.25 * 0.55)
    assert r["reliability"]["accuracy"][9] == pytest.approx(1.0)
    assert r["reliability"]["accuracy"][5] == pytest.approx(0.0)
    assert r["reliability"]["accuracy"][0] is None  # empty bin


def test_probabilities_input_ignores_255_and_matches_maps():
    # 2 classes, every pixel p = (0.8, 0.2): predicted class 0, confidence 0.8.
    h, w = 10, 10
    prob = np.zeros((1, 2, h, w), dtype=np.float32)
    prob[:, 0], prob[:, 1] = 0.8, 0.2
    gt = np.zeros((1, h, w), dtype=np.int64)
    gt[0, :2] = 1        # 20 wrong pixels
    gt[0, 8:] = 255      # 20 ignored pixels: 80 valid, 60 right -> 75% accuracy
    acc = CalibrationAccumulator(num_bins=10)
    acc.update(prob, gt)
    r = acc.result()
    assert r["num_pixels"] == 80
    assert r["accuracy"] == pytest.approx(0.75)
    assert r["ece"] == pytest.approx(0.05, abs=1e-6)
    ent = -(0.8 * math.log(0.8) + 0.2 * math.log(0.2)) / math.log(2)
    assert r["mean_entropy"] == pytest.approx(ent, rel=1e-5)
    assert sum(r["entropy_histogram"]["count"]) == 80
    assert sum(r["entropy_histogram"]["count_wrong"]) == 20
    json.dumps(r, allow_nan=False)
    # Torch input (3-D, no batch) gives the same result.
    acc_t = CalibrationAccumulator(num_bins=10)
    acc_t.update(torch.from_numpy(prob[0]), torch.from_numpy(gt[0]))
    rt = acc_t.result()
    assert rt["ece"] == pytest.approx(r["ece"], abs=1e-6)
    assert rt["entropy_histogram"] == r["entropy_histogram"]


def test_logits_are_rejected():
    acc = CalibrationAccumulator()
    with pytest.raises(ValueError, match="softmax"):
        acc.update(np.random.default_rng(0).normal(size=(1, 3, 4, 4)), np.zeros((1, 4, 4), dtype=np.int64))
    with pytest.raises(ValueError, match="labels >= 3"):
        acc.update(np.full((1, 3, 2, 2), 1 / 3), np.full((1, 2, 2), 7))


def test_auroc_of_entropy_detects_wrong_pixels():
    n = 2000
    rng = np.random.default_rng(1)
    gt = np.zeros(n, dtype=np.int64)
    pred = np.where(np.arange(n) < n // 2, 0, 1)  # half wrong
    ent = np.where(pred == gt, rng.uniform(0, 0.4, n), rng.uniform(0.6, 1.0, n))
    acc = CalibrationAccumulator(max_samples=500)
    acc.update_from_maps(np.full(n, 0.9), pred, gt, entropy=ent)
    r = acc.result()
    assert r["auroc_entropy_wrong"] == pytest.approx(1.0)
    assert r["auroc_samples"] == 500
    acc_rev = CalibrationAccumulator()
    acc_rev.update_from_maps(np.full(n, 0.9), pred, gt, entropy=1 - ent)
    assert acc_rev.result()["auroc_entropy_wrong"] == pytest.approx(0.0)
    # All right: AUROC undefined -> None, not an exception.
    acc_ok = CalibrationAccumulator()
    acc_ok.update_from_maps(np.full(10, 0.9), np.zeros(10, dtype=np.int64), np.zeros(10, dtype=np.int64),
                            entropy=np.zeros(10))
    assert acc_ok.result()["auroc_entropy_wrong"] is None


def test_reservoir_is_uniform_over_updates_and_seeded():
    # First 5000 pixels all right, next 5000 all wrong: a uniform sample is about half wrong
    # (keeping only the first max_samples pixels would give 0% wrong).
    def run(seed):
        acc = CalibrationAccumulator(max_samples=400, seed=seed)
        z = np.zeros(5000, dtype=np.int64)
        acc.update_from_maps(np.full(5000, 0.9), z, z, entropy=np.full(5000, 0.1))
        acc.update_from_maps(np.full(5000, 0.9), z + 1, z, entropy=np.full(5000, 0.9))
        return acc

    acc = run(0)
    assert acc._keys.size == 400
    assert 0.38 < acc._res_wrong.mean() < 0.62
    assert acc.result()["auroc_entropy_wrong"] == pytest.approx(1.0)
    np.testing.assert_array_equal(run(0)._res_wrong, acc._res_wrong)  # reproducible


def test_entropy_all_or_nothing_and_shape_checks():
    acc = CalibrationAccumulator()
    c, p, g = _maps(0.9, 1.0, 10)
    acc.update_from_maps(c, p, g)
    assert acc.result()["entropy_histogram"] is None
    with pytest.raises(ValueError, match="every update"):
        acc.update_from_maps(c, p, g, entropy=np.zeros(10))
    with pytest.raises(ValueError, match="one shape"):
        acc.update_from_maps(c, p[:5], g)


def test_auroc_equals_scikit_learn_with_ties_and_refuses_one_class():
    from sklearn.metrics import roc_auc_score

    from advent.calibration import auroc

    rng = np.random.default_rng(3)
    scores = rng.integers(0, 20, 5000) / 20.0  # many ties
    positive = rng.random(5000) < 0.3 + 0.4 * scores
    assert auroc(scores, positive) == pytest.approx(roc_auc_score(positive, scores), abs=1e-12)
    assert auroc([0.1, 0.9], [False, True]) == 1.0
    assert auroc([0.5, 0.5], [False, True]) == 0.5
    with pytest.raises(ValueError, match="both classes"):
        auroc([0.1, 0.2], [True, True])
