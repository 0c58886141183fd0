"""Pseudo-label selection and ensemble inference."""
import numpy as np
import torch

from advent.losses import upsample
from advent.models import ModelConfig, build_segmenter
import pytest
from torch import nn

from advent.predict import ensemble_logits, reestimate_bn_statistics
from advent.pseudo import ConfidenceHistogram, select_pseudo_labels


def test_class_balanced_thresholds_keep_the_most_confident_fraction_per_class():
    # class 0: confidences 0.10 .. 0.99 (90 px); class 1: all 0.95 (10 px)
    conf = torch.cat([torch.linspace(0.10, 0.99, 90), torch.full((10,), 0.95)]).view(1, 10, 10)
    pred = torch.cat([torch.zeros(90, dtype=torch.long), torch.ones(10, dtype=torch.long)]).view(1, 10, 10)
    hist = ConfidenceHistogram(3)
    hist.update(conf, pred)
    t = hist.thresholds(fraction=0.5, max_threshold=0.9)
    # half of class 0 lies above its median (~0.545); class 1's threshold is capped at 0.9;
    # class 2 was never predicted
    assert abs(t[0] - 0.545) < 0.011 and t[1] == 0.9 and t[2] == 0.9
    labels = select_pseudo_labels(conf, pred, t)
    kept0 = (labels == 0).sum().item()
    assert 45 <= kept0 <= 46
    assert (labels == 1).sum().item() == 10  # 0.95 >= capped 0.9: all kept
    assert set(labels.unique().tolist()) == {0, 1, 255}
    # what is kept of class 0 is its most confident part
    assert conf[labels == 0].min() >= conf[(labels == 255) & (pred == 0)].max()
    # a fifth of class 0: its 18 most confident pixels, 0.82 .. 0.99
    t = hist.thresholds(fraction=0.2, max_threshold=0.9)
    assert abs(t[0] - 0.82) < 0.011
    assert (select_pseudo_labels(conf, pred, t) == 0).sum().item() == 18


def test_a_pixel_exactly_at_its_class_threshold_is_kept():
    conf = torch.tensor([[[0.5, 0.6, 0.7, 0.6]]])
    pred = torch.tensor([[[0, 0, 0, 1]]])
    labels = select_pseudo_labels(conf, pred, np.array([0.6, 0.65]))
    assert labels.tolist() == [[[255, 0, 0, 255]]]


def test_ensemble_is_the_weighted_mean_of_upsampled_logits():
    torch.manual_seed(0)
    a, b = (build_segmenter(ModelConfig(width=4), 5).eval() for _ in range(2))
    images = torch.randint(0, 256, (2, 3, 32, 48), dtype=torch.uint8)
    with torch.no_grad():
        la, lb = (upsample(m(images)[0], (32, 48)) for m in (a, b))
        torch.testing.assert_close(ensemble_logits([a, b], images, [1.0, 0.0]), la)
        torch.testing.assert_close(ensemble_logits([a, b], images, [1.0, 3.0]), 0.25 * la + 0.75 * lb)
        torch.testing.assert_close(ensemble_logits([a, b], images), (la + lb) / 2)
        assert ensemble_logits([a], images, size=(64, 96)).shape == (2, 5, 64, 96)


def test_evaluation_upsamples_logits_to_full_resolution_labels(tmp_path):
    """The paper's protocol: a test split whose labels are twice the image size is
    scored at the labels' size, with the logits upsampled to it before the argmax."""
    from advent.data.prepared import PreparedDataset, PreparedWriter
    from advent.predict import confusion_matrix_of, iterate_predictions

    rng = np.random.default_rng(0)
    with PreparedWriter(tmp_path / "ds", "toy", "cityscapes19", (16, 24),
                        label_sizes={"test": (32, 48)}) as w:
        for i in range(3):
            label = rng.integers(0, 19, (32, 48), dtype=np.uint8)
            label[:2] = 255
            w.add("test", f"t{i}", rng.integers(0, 256, (16, 24, 3), dtype=np.uint8), label)
    dataset = PreparedDataset(tmp_path / "ds", "test")
    torch.manual_seed(0)
    model = build_segmenter(ModelConfig(width=4), 19).eval()
    batches = list(iterate_predictions([model], dataset, torch.device("cpu"), batch_size=2))
    assert [tuple(logits.shape) for _, _, logits, _ in batches] == [(2, 19, 32, 48), (1, 19, 32, 48)]
    expected = np.zeros((19, 19), dtype=np.int64)
    for k in range(len(dataset)):
        image, label, _ = dataset[k]
        with torch.no_grad():
            prediction = upsample(model(image[None])[0], (32, 48)).argmax(1)[0].numpy()
        valid = label.numpy() != 255
        np.add.at(expected, (label.numpy()[valid], prediction[valid]), 1)
    matrix = confusion_matrix_of([model], dataset, torch.device("cpu"), 19, batch_size=2)
    np.testing.assert_array_equal(matrix, expected)
    assert matrix.sum() == 3 * 30 * 48  # every valid full-resolution pixel, once


class _BNNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(3)

    def forward(self, images):
        return self.bn(images.float()), None


def test_bn_statistics_are_reestimated_on_the_dataset_and_the_model_is_left_alone():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (8, 3, 4, 4), dtype=torch.uint8, generator=g)
    dataset = [(images[i], torch.zeros(4, 4, dtype=torch.long), i) for i in range(8)]
    model = _BNNet().eval()
    fresh = reestimate_bn_statistics(model, dataset, torch.device("cpu"), batch_size=4)
    x = images.float()
    halves = x[:4], x[4:]
    mean = torch.stack([h.mean((0, 2, 3)) for h in halves]).mean(0)
    var = torch.stack([h.var((0, 2, 3), unbiased=True) for h in halves]).mean(0)
    torch.testing.assert_close(fresh.bn.running_mean, mean)
    torch.testing.assert_close(fresh.bn.running_var, var)
    assert not fresh.training
    assert torch.equal(model.bn.running_mean, torch.zeros(3))  # the original is untouched
    with pytest.raises(ValueError, match="BatchNorm"):
        reestimate_bn_statistics(nn.Identity(), dataset, torch.device("cpu"))
