"""advent.losses against values computed by hand (closed forms, not the code under test)."""
from __future__ import annotations

import math

import pytest
import torch

from advent.data.labels import IGNORE_INDEX
from advent.losses import (SOURCE_LABEL, TARGET_LABEL, ClassRatioPrior, EntropyLoss,
                           SegmentationLoss, adversarial_loss, entropy_map, self_information,
                           upsample)

D = torch.float64



def logits_of(probs: list[float]) -> torch.Tensor:
    """(C,) probabilities -> (1, C, 1, 1) logits whose softmax gives them back."""
    return torch.tensor(probs, dtype=D).log().view(1, -1, 1, 1)


def binary_entropy(p: float) -> float:
    """Entropy of (p, 1-p) in bits, i.e. normalised by log 2."""
    return -(p * math.log(p) + (1 - p) * math.log(1 - p)) / math.log(2)


# ---------------------------------------------------------------- entropy / self-information

@pytest.mark.parametrize("c", [2, 7, 19])
def test_entropy_of_uniform_is_one(c: int) -> None:
    ent = entropy_map(torch.zeros(2, c, 3, 4, dtype=D))
    assert ent.shape == (2, 3, 4)
    torch.testing.assert_close(ent, torch.ones(2, 3, 4, dtype=D))


def test_entropy_of_one_hot_is_zero() -> None:
    logits = torch.full((1, 19, 2, 2), -50.0, dtype=D)
    logits[:, 4] = 50.0
    ent = entropy_map(logits)
    assert ent.abs().max().item() < 1e-12
    # and exactly one-hot probabilities give 0, not NaN (eps inside the log)
    prob = torch.zeros(1, 3, 1, 1, dtype=D)
    prob[:, 1] = 1.0
    info = self_information(prob)
    assert torch.isfinite(info).all() and info.abs().max().item() == 0.0


def test_entropy_of_hand_made_two_class_distribution() -> None:
    # P = (0.25, 0.75): H = -(0.25 ln 0.25 + 0.75 ln 0.75) / ln 2 = 0.8112781244591328
    assert binary_entropy(0.25) == pytest.approx(0.8112781244591328, abs=1e-15)
    ent = entropy_map(logits_of([0.25, 0.75]))
    assert ent.item() == pytest.approx(0.8112781244591328, abs=1e-12)
    # the log base only rescales: a 3-class case, normalised by ln 3
    ent3 = entropy_map(logits_of([0.5, 0.25, 0.25]))
    assert ent3.item() == pytest.approx(1.5 * math.log(2) / math.log(3), abs=1e-12)


def test_self_information_values() -> None:
    prob = torch.tensor([0.25, 0.75], dtype=D).view(1, 2, 1, 1)
    info = self_information(prob).flatten().tolist()
    # -p log p / log 2: 0.25 * 2 = 0.5 and 0.75 * log2(4/3) = 0.31127812445913283
    assert info == pytest.approx([0.5, 0.31127812445913283], abs=1e-12)
    prob3 = torch.tensor([0.5, 0.25, 0.25], dtype=D).view(1, 3, 1, 1)
    info3 = self_information(prob3).flatten().tolist()  # 0.5 ln 2 = 0.25 ln 4: all three equal
    l3 = math.log(3)
    assert info3 == pytest.approx([0.5 * math.log(2) / l3, 0.5 * math.log(2) / l3, 0.5 * math.log(2) / l3],
                                  abs=1e-12)
    # shape kept: (N, C, H, W) -> (N, C, H, W), maximum 1/(e ln C) at p = 1/e
    assert self_information(torch.full((2, 19, 3, 5), 1 / math.e, dtype=D)).shape == (2, 19, 3, 5)
    peak = self_information(torch.full((1, 2, 1, 1), 1 / math.e, dtype=D)).max().item()
    assert peak == pytest.approx(1 / (math.e * math.log(2)), abs=1e-12)


def test_entropy_loss_is_the_pixel_mean() -> None:
    logits = torch.cat([logits_of([0.5, 0.5]), logits_of([0.25, 0.75]), logits_of([0.1, 0.9])], dim=3)
    expect = (1.0 + binary_entropy(0.25) + binary_entropy(0.1)) / 3
    assert EntropyLoss()(logits).item() == pytest.approx(expect, abs=1e-12)


def _ranked_logits(n_img: int, hw: tuple[int, int], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """2-class logits whose pixels have distinct entropies; also returns the (N, H*W) entropies."""
    g = torch.Generator().manual_seed(seed)
    n = hw[0] * hw[1]
    # p < 0.5, so entropy is strictly increasing in p; all distinct. Image i's p lie in
    # (0.4 / 2**i, 0.48 / 2**i): every pixel of image 0 beats every pixel of image 1, so a
    # ranking over the whole batch instead of per image would show.
    p = torch.stack([(0.4 + 0.08 * (torch.randperm(n, generator=g).to(D) + 0.5) / n) / 2 ** i
                     for i in range(n_img)])
    ent = -(p * p.log() + (1 - p) * (1 - p).log()) / math.log(2)
    logits = torch.stack([p.log(), (1 - p).log()], dim=1).view(n_img, 2, *hw)
    return logits, ent


def test_entropy_loss_pixel_range_picks_exactly_the_top_30_percent() -> None:
    logits, ent = _ranked_logits(2, (10, 10), seed=0)  # 100 pixels per image -> 30 each
    logits.requires_grad_(True)
    loss = EntropyLoss(pixel_range=(0.0, 0.3))(logits)
    top = ent.sort(dim=1, descending=True).values[:, :30]
    assert loss.item() == pytest.approx(top.mean().item(), abs=1e-12)
    loss.backward()
    touched = logits.grad.abs().sum(dim=1).flatten(1) > 0       # (N, HW)
    threshold = top[:, -1:]                                      # 30th highest per image
    assert torch.equal(touched, ent >= threshold)
    assert touched.sum(dim=1).tolist() == [30, 30]               # per image, not over the batch
    # the complementary range takes the other 70 pixels of each image
    rest = EntropyLoss(pixel_range=(0.3, 1.0))(logits.detach())
    low = ent.sort(dim=1, descending=True).values[:, 30:]
    assert rest.item() == pytest.approx(low.mean().item(), abs=1e-12)
    # and the full range is the plain mean
    assert EntropyLoss(pixel_range=(0.0, 1.0))(logits.detach()).item() == pytest.approx(ent.mean().item(), abs=1e-12)


@pytest.mark.parametrize("bad", [(0.3, 0.3), (-0.1, 0.5), (0.5, 1.2), (0.6, 0.2)])
def test_entropy_loss_rejects_bad_ranges(bad: tuple[float, float]) -> None:
    with pytest.raises(ValueError):
        EntropyLoss(pixel_range=bad)


# ---------------------------------------------------------------- class-ratio prior

def test_class_ratio_prior_hand_example_uses_relu_not_abs() -> None:
    # prior = [6, 3, 1] / 10; mu * prior = [0.30, 0.15, 0.05]
    prior = ClassRatioPrior(torch.tensor([6.0, 3.0, 1.0]), mu=0.5)
    # image 1: two pixels (0.1, 0.8, 0.1), (0.1, 0.1, 0.8) -> mean (0.1, 0.45, 0.45)
    #   terms: max(0, .30 - .10) = .20, max(0, .15 - .45) = 0, max(0, .05 - .45) = 0 -> 0.20
    #   (an absolute value would give .20 + .30 + .40 = 0.90)
    img1 = torch.cat([logits_of([0.1, 0.8, 0.1]), logits_of([0.1, 0.1, 0.8])], dim=3)
    assert prior(img1).item() == pytest.approx(0.20, abs=1e-6)
    # image 2: both pixels (0.8, 0.1, 0.1): terms 0, .15 - .10 = .05, 0 -> 0.05
    img2 = torch.cat([logits_of([0.8, 0.1, 0.1])] * 2, dim=3)
    assert prior(img2).item() == pytest.approx(0.05, abs=1e-6)
    # a batch averages the per-image sums
    assert prior(torch.cat([img1, img2])).item() == pytest.approx(0.125, abs=1e-6)
    # predictions at or above mu * prior everywhere cost nothing
    assert prior(logits_of([0.6, 0.3, 0.1])).item() == pytest.approx(0.0, abs=1e-7)


def test_class_ratio_prior_validates_inputs() -> None:
    with pytest.raises(ValueError):
        ClassRatioPrior(torch.zeros(3))
    with pytest.raises(ValueError):
        ClassRatioPrior(torch.ones(2, 2))
    with pytest.raises(ValueError, match="classes"):
        ClassRatioPrior(torch.ones(3))(torch.zeros(1, 4, 2, 2))


# ---------------------------------------------------------------- adversarial

def test_adversarial_labels_and_bce_values() -> None:
    assert (SOURCE_LABEL, TARGET_LABEL) == (0.0, 1.0)  # official code: source 0, target 1
    zeros = torch.zeros(1, 1, 2, 3, dtype=D)
    assert adversarial_loss(zeros, SOURCE_LABEL).item() == pytest.approx(math.log(2), abs=1e-12)
    twos = torch.full((1, 1, 2, 3), 2.0, dtype=D)
    # BCE(x, 1) = ln(1 + e^-x), BCE(x, 0) = ln(1 + e^x)
    assert adversarial_loss(twos, TARGET_LABEL).item() == pytest.approx(math.log1p(math.exp(-2)), abs=1e-12)
    assert adversarial_loss(twos, SOURCE_LABEL).item() == pytest.approx(math.log1p(math.exp(2)), abs=1e-12)
    mixed = torch.tensor([[[[-1.0, 3.0]]]], dtype=D)  # mean over the patch map
    expect = (math.log1p(math.exp(-1.0)) + math.log1p(math.exp(3.0))) / 2
    assert adversarial_loss(mixed, SOURCE_LABEL).item() == pytest.approx(expect, abs=1e-12)


# ---------------------------------------------------------------- segmentation

def test_segmentation_loss_ignores_255() -> None:
    logits = logits_of([0.25, 0.75]).expand(1, 2, 2, 2).contiguous()  # same distribution everywhere
    labels = torch.full((1, 4, 4), IGNORE_INDEX, dtype=torch.long)
    labels[0, 0, :3] = 1
    labels[0, 3, 3] = 0
    expect = (3 * -math.log(0.75) - math.log(0.25)) / 4  # mean over the 4 valid pixels only
    assert SegmentationLoss()(logits, labels).item() == pytest.approx(expect, abs=1e-12)


def test_segmentation_loss_upsamples_bilinearly_with_aligned_corners() -> None:
    # class-1 logit [[0, 2], [4, 6]], class 0 at 0 -> 3x4 with align_corners=True:
    # rows at 0, 1/2, 1 and columns at 0, 1/3, 2/3, 1 of the 2x2 grid
    # (align_corners=False would give columns 0, 0.5, 1.5, 2 in the first row)
    logits = torch.zeros(1, 2, 2, 2, dtype=D)
    logits[0, 1] = torch.tensor([[0.0, 2.0], [4.0, 6.0]], dtype=D)
    up = upsample(logits, (3, 4))[0, 1]
    expect = torch.tensor([[0.0, 2 / 3, 4 / 3, 2], [2, 8 / 3, 10 / 3, 4], [4, 14 / 3, 16 / 3, 6]], dtype=D)
    torch.testing.assert_close(up, expect)
    labels = torch.full((1, 3, 4), IGNORE_INDEX, dtype=torch.long)
    labels[0, 0, 1] = 1                      # class-1 logit 2/3: CE = ln(1 + e^(-2/3))
    assert SegmentationLoss()(logits, labels).item() == pytest.approx(math.log1p(math.exp(-2 / 3)), abs=1e-12)
    labels[0, 0, 1] = IGNORE_INDEX
    labels[0, 1, 2] = 0                      # class-1 logit 10/3, label 0: CE = ln(1 + e^(10/3))
    assert SegmentationLoss()(logits, labels).item() == pytest.approx(math.log1p(math.exp(10 / 3)), abs=1e-12)
    assert upsample(logits, (2, 2)) is logits


def test_segmentation_loss_all_ignored_is_zero_with_gradient() -> None:
    logits = torch.randn(1, 3, 2, 2, dtype=D, requires_grad=True)
    labels = torch.full((1, 5, 5), IGNORE_INDEX, dtype=torch.long)
    loss = SegmentationLoss()(logits, labels)
    assert loss.item() == 0.0
    loss.backward()
    assert logits.grad is not None and logits.grad.abs().sum().item() == 0.0
