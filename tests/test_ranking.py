"""Entropy ranking (IntraDA): the order, the split sizes, the easy split's pseudo-labels
(argmax, and the class-balanced selection of advent.pseudo on the same images), and the
rank and intrada stages on tiny inputs.

The ranking runs with a stand-in model whose logits are known from the image: the red
channel encodes each pixel's class, the green channel its sharpness, so every score and
label is computed here independently of advent.ranking.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from advent.data.labels import IGNORE_INDEX, get_protocol
from advent.data.prepared import PreparedDataset, PreparedWriter
from advent.metrics import ConfusionMatrix, summarize
from advent.params import RankParams
from advent.pseudo import pseudo_label_dataset
from advent.ranking import (
    easy_count, normalised_entropy, rank_dataset, rare_class_factor, rare_class_ids, sort_scores,
)
from tests.stage_runs import run_script, write_params

C = 19
H, W = 8, 16


class KnownLogits(nn.Module):
    """Logits ``sharpness * onehot(class)``: class = red // 10, sharpness = green / 25."""

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, None]:
        x = images.long()
        onehot = F.one_hot(x[:, 0] // 10, C).permute(0, 3, 1, 2).float()
        return onehot * (x[:, 1].float() / 25.0)[:, None], None


def _expected_entropy(sharpness: np.ndarray) -> np.ndarray:
    """Normalised entropy of softmax(s * onehot) over C classes, per pixel."""
    z = np.exp(sharpness) + (C - 1)
    p, q = np.exp(sharpness) / z, 1.0 / z
    return -(p * np.log(p) + (C - 1) * q * np.log(q)) / math.log(C)


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """7 images; image i has pixel sharpness around a base that falls with i's position in
    a shuffled order, classes at random, and ground truth = the class but for a few pixels."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("ranking") / "target"
    bases = [40, 150, 90, 10, 200, 120, 60]  # green base: higher = sharper = easier
    truth = {}
    with PreparedWriter(root, "known", "cityscapes19", (H, W)) as writer:
        for i, base in enumerate(bases):
            classes = rng.integers(0, C, size=(H, W))
            green = np.clip(base + rng.integers(-8, 9, size=(H, W)), 0, 255)
            image = np.stack([classes * 10, green, np.zeros_like(green)], -1).astype(np.uint8)
            label = classes.astype(np.uint8).copy()
            label[0, : i + 1] = (label[0, : i + 1] + 1) % C  # i + 1 wrong pixels
            label[1, 0] = IGNORE_INDEX
            writer.add("train", f"img{i}", image, label)
            truth[f"img{i}"] = (image, label)
    return PreparedDataset(root, "train"), truth


def _scores(truth) -> dict[str, float]:
    return {i: float(_expected_entropy(img[..., 1] / 25.0).mean()) for i, (img, _) in truth.items()}


def test_normalised_entropy_is_zero_for_one_hot_and_one_for_uniform():
    probs = torch.zeros(2, 4, 1, 1)
    probs[0, 2] = 1.0
    probs[1] = 0.25
    assert normalised_entropy(probs).flatten().tolist() == pytest.approx([0.0, 1.0])


def test_sort_orders_by_score_then_id_and_splits_by_floor():
    ranking = sort_scores(["c", "a", "b", "d"], [0.3, 0.5, 0.3, 0.1], 0.67)
    assert ranking.ids == ["d", "b", "c", "a"] and ranking.indices == [3, 2, 0, 1]
    assert ranking.n_easy == 2  # floor(0.67 x 4)
    assert [r["split"] for r in ranking.record()] == ["easy", "easy", "hard", "hard"]


@pytest.mark.parametrize("n, fraction, easy", [(8, 0.67, 5), (3, 0.67, 2), (2975, 0.67, 1993),
                                               (10, 0.1, 1), (10, 0.99, 9)])
def test_split_sizes(n, fraction, easy):
    assert easy_count(n, fraction) == easy


def test_a_fraction_that_empties_the_easy_split_names_the_key_and_count():
    with pytest.raises(ValueError, match=r"rank\.easy_fraction 0\.2 .*easy split empty with 4 "
                                         r"target-train images"):
        easy_count(4, 0.2)


def test_rare_class_factor_follows_intrada():
    protocol = get_protocol("cityscapes19")
    rare = rare_class_ids(protocol)
    assert [protocol.class_names[i] for i in rare] == [
        "wall", "fence", "pole", "traffic light", "traffic sign", "terrain", "rider", "truck",
        "bus", "train", "motorcycle"]
    assert rare_class_factor(torch.tensor([[0, 1], [2, 8]]), rare) == 1.5  # none rare
    assert rare_class_factor(torch.tensor([[3, 4], [3, 0]]), rare) == pytest.approx(9 / 11 + 0.5)
    assert len(rare_class_ids(get_protocol("synthia16"))) == 8  # no terrain, truck, train


@pytest.mark.parametrize("labels", ["argmax", "class_balanced"])
def test_ranking_order_split_and_easy_pseudo_labels(target, tmp_path, labels):
    dataset, truth = target
    cfg = RankParams(easy_fraction=0.5, labels=labels, fraction=0.5, max_threshold=0.9, batch_size=3)
    result = rank_dataset([KnownLogits()], dataset, tmp_path / "ranked", cfg, torch.device("cpu"))
    expected = _scores(truth)
    order = sorted(expected, key=lambda i: (expected[i], i))
    r = result.ranking
    assert r.ids == order and r.ids[:3] == ["img4", "img1", "img5"]  # the sharpest first
    assert r.scores == pytest.approx([expected[i] for i in order], rel=1e-5)
    assert r.n_easy == 3  # floor(0.5 x 7)
    easy = PreparedDataset(tmp_path / "ranked", "easy")
    hard = PreparedDataset(tmp_path / "ranked", "hard")
    assert easy.ids == order[:3] and hard.ids == order[3:]
    assert not hard.labelled and all((hard.read_arrays(k)[1] == IGNORE_INDEX).all()
                                     for k in range(len(hard)))
    for k, image_id in enumerate(easy.ids):
        image, label = easy.read_arrays(k)
        assert (image == truth[image_id][0]).all()
        if labels == "argmax":  # every pixel, the predicted class
            assert (label == truth[image_id][0][..., 0] // 10).all()
    # argmax on the easy images: every pixel; right but for the i + 1 altered ones
    stats = result.metrics()["rank"]
    scored = 3 * (H * W - 1)
    wrong = sum(int(i[3:]) + 1 for i in order[:3])
    assert stats["argmax"] == {"coverage": 1.0, "accuracy": pytest.approx((scored - wrong) / scored)}
    assert stats["easy"]["images"] == 3 and stats["hard"]["images"] == 4
    assert stats["easy"]["mean_score"] < stats["hard"]["mean_score"]
    # the scoring model's mIoU on each split: its argmax (red // 10) against the truth
    for split, ids in (("easy", order[:3]), ("hard", order[3:])):
        matrix = ConfusionMatrix(C)
        for image_id in ids:
            matrix.update(truth[image_id][0][..., 0] // 10, truth[image_id][1])
        assert stats[split]["mIoU"] == pytest.approx(summarize(matrix.matrix, get_protocol("cityscapes19"))["mIoU"])
    assert stats["easy"]["mIoU"] != stats["hard"]["mIoU"]
    # class-balanced: the pseudo_label stage's selection on a dataset of the easy images alone
    with PreparedWriter(tmp_path / "easy_only", "easy", "cityscapes19", (H, W)) as writer:
        for image_id in order[:3]:
            writer.add("train", image_id, *truth[image_id])
    reference = pseudo_label_dataset([KnownLogits()], PreparedDataset(tmp_path / "easy_only", "train"),
                                     tmp_path / "reference", 0.5, 0.9, torch.device("cpu"), 3)
    assert result.thresholds == pytest.approx(reference.thresholds)
    assert stats["class_balanced"]["coverage"] == pytest.approx(reference.selected_fraction)
    assert stats["class_balanced"]["accuracy"] == pytest.approx(reference.pixel_accuracy_of_selected)
    assert 0 < stats["class_balanced"]["coverage"] < 1
    if labels == "class_balanced":
        ref = PreparedDataset(tmp_path / "reference", "train")
        for k in range(3):
            assert (easy.read_arrays(k)[1] == ref.read_arrays(k)[1]).all()


def test_the_rare_class_normaliser_ranks_images_with_rare_classes_easier(tmp_path):
    """Two images, equally sharp: the one predicting three rare classes scores lower."""
    with PreparedWriter(tmp_path / "target", "two", "cityscapes19", (H, W)) as writer:
        for name, classes in (("common", [0, 1, 2, 8]), ("rare", [3, 4, 5, 0])):
            cls = np.array(classes * (H * W // 4)).reshape(H, W)
            image = np.stack([cls * 10, np.full((H, W), 50), np.zeros((H, W))], -1).astype(np.uint8)
            writer.add("train", name, image, cls.astype(np.uint8))
    dataset = PreparedDataset(tmp_path / "target", "train")
    plain = rank_dataset([KnownLogits()], dataset, tmp_path / "a", RankParams(easy_fraction=0.5),
                         torch.device("cpu")).ranking
    assert plain.scores[0] == pytest.approx(plain.scores[1])
    normalised = rank_dataset([KnownLogits()], dataset, tmp_path / "b",
                              RankParams(easy_fraction=0.5, rare_class_normaliser=True),
                              torch.device("cpu")).ranking
    assert normalised.ids == ["rare", "common"]
    assert normalised.scores[0] / normalised.scores[1] == pytest.approx((8 / 11 + 0.5) / 1.5)


def test_rank_and_intrada_stages_on_tiny_inputs(tmp_path):
    """The rank stage's files, then intrada from the easy split to the hard one."""
    from advent.data.synthetic import prepare_synthetic
    from advent.params import load_params
    from advent.pipeline import train_and_save

    params_file = write_params(tmp_path / "params.yaml")
    params = load_params(params_file)
    prepare_synthetic(params.data.synthetic, "target", tmp_path / "target")
    prepare_synthetic(params.data.synthetic, "source", tmp_path / "source")
    train_and_save("source_only", params, 1, PreparedDataset(tmp_path / "source", "train"), None,
                   tmp_path / "models/advent")
    run = run_script("stages/rank.py", "--params", params_file, "--models-dir", tmp_path / "models",
                     "--target", tmp_path / "target", "--out", tmp_path / "ranked",
                     "--ranking", tmp_path / "ranking.json", "--stats", tmp_path / "rank.json",
                     "--figure", tmp_path / "ranking.png")
    assert run.status == 0, run.stderr
    ranking = json.loads((tmp_path / "ranking.json").read_text())
    rows = ranking["images"]
    assert [r["score"] for r in rows] == sorted(r["score"] for r in rows)
    assert [r["split"] for r in rows] == ["easy"] * 5 + ["hard"] * 3  # floor(0.67 x 8) = 5
    assert (ranking["easy"], ranking["hard"], ranking["labels"]) == (5, 3, "argmax")
    stats = json.loads((tmp_path / "rank.json").read_text())["rank"]
    assert set(stats) == {"easy", "hard", "argmax", "class_balanced"}
    assert stats["argmax"]["coverage"] == 1.0 and 0 <= stats["argmax"]["accuracy"] <= 1
    assert (tmp_path / "ranking.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    intrada = ("stages/intrada.py", "--ranked", tmp_path / "ranked",
               "--init", tmp_path / "models/advent/model.pt", "--live", tmp_path / "dvclive")
    run = run_script(*intrada, "--params", params_file, "--out", tmp_path / "intrada",
                     "--source", tmp_path / "absent")  # with_source false: never read
    assert run.status == 0, run.stderr
    model = torch.load(tmp_path / "intrada/model.pt", weights_only=True)
    assert model["info"]["method"] == "intrada" and model["info"]["iteration"] == 2
    assert model["info"]["method_params"]["start_from"] == params.intrada.start_from
    assert model["info"]["method_params"]["with_source"] is False

    with_source = write_params(tmp_path / "with_source.yaml", **{"intrada.with_source": True})
    run = run_script(*intrada, "--params", with_source, "--out", tmp_path / "intrada_src",
                     "--source", tmp_path / "absent")
    assert run.status == 1 and str(tmp_path / "absent") in run.last_line
    assert not (tmp_path / "intrada_src/model.pt").exists()
    run = run_script(*intrada, "--params", with_source, "--out", tmp_path / "intrada_src",
                     "--source", tmp_path / "source")
    assert run.status == 0, run.stderr
    model = torch.load(tmp_path / "intrada_src/model.pt", weights_only=True)
    assert model["info"]["method_params"]["with_source"] is True
