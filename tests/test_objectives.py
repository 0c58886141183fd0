"""One iteration of AdvEnt, MinEnt and self-training, pinned on 1x1-conv networks with
hand-set weights: which loss each ``backward`` call carries, its value, and the gradient
it sends to the segmenter's logits and to the discriminators. The expected values are
closed forms computed here with numpy, not with the code under test; domain labels are
the official ones written out (source 0, target 1)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from advent.losses import ClassRatioPrior
from advent.methods import AdvEnt, Batch, MinEnt, SelfTraining
from advent.params import TrainConfig
from advent.train import train
from tests.tiny_nets import Images, PixelSegmenter, conv1x1

C = 3
SOURCE, TARGET = 0.0, 1.0
# Segmenter heads and discriminators, (weight, bias), chosen by hand (any generic values).
MAIN = ([[1.5, -2.0, 0.5], [-0.5, 1.0, 2.0], [0.8, 0.3, -1.2]], [0.1, -0.2, 0.3])
AUX = ([[-1.0, 0.5, 1.0], [2.0, -1.5, 0.0], [0.2, 0.9, -0.4]], [0.0, 0.2, -0.1])
D_MAIN = ([[2.0, -3.0, 1.5]], [0.4])
D_AUX = ([[-1.0, 2.5, 0.5]], [-0.3])
# Class-ratio prior: mu * prior = (0.3, 0.15, 0.05).
HIST, MU = [6.0, 3.0, 1.0], 0.5


def _batches() -> tuple[Batch, Batch]:
    """Source (2, 3, 2, 3) images with labels; target images with labels that have 255s."""
    g = torch.Generator().manual_seed(0)
    src = torch.randint(0, 256, (2, 3, 2, 3), dtype=torch.uint8, generator=g)
    trg = torch.randint(0, 256, (2, 3, 2, 3), dtype=torch.uint8, generator=g)
    src_labels = torch.randint(0, C, (2, 2, 3), generator=g)
    trg_labels = torch.randint(0, C, (2, 2, 3), generator=g)
    trg_labels[0, 0] = 255
    trg_labels[1, :, 2] = 255
    return Batch(src, src_labels), Batch(trg, trg_labels)


class Backward:
    """The loop's ``backward(loss)``: records every call's loss, back-propagates only the
    calls whose 0-based index is in ``through``."""

    def __init__(self, *through: int) -> None:
        self.through = set(through)
        self.losses: list[float] = []

    def __call__(self, loss: torch.Tensor) -> None:
        if len(self.losses) in self.through:
            loss.backward()
        self.losses.append(loss.item())


# ----------------------------------------------------------------------------- closed forms

def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def self_information(p: np.ndarray) -> np.ndarray:
    return -p * np.log(p) / np.log(C)


def d_out(d: torch.nn.Conv2d, info: np.ndarray) -> np.ndarray:
    """A 1x1-conv discriminator's logits (N, H, W) on maps (N, C, H, W)."""
    return np.einsum("c,nchw->nhw", _np(d.weight).reshape(-1), info) + d.bias.item()


def bce(z: np.ndarray, label: float) -> float:
    """Mean BCE-with-logits against a constant label: log(1 + e^z) - label * z."""
    return float(np.mean(np.logaddexp(0.0, z) - label * z))


def through_softmax(p: np.ndarray, grad_p: np.ndarray) -> np.ndarray:
    """d/dlogits from d/dprobabilities: p_k (g_k - sum_c g_c p_c)."""
    return p * (grad_p - (grad_p * p).sum(axis=1, keepdims=True))


def grad_info_wrt_p(p: np.ndarray, grad_info: np.ndarray) -> np.ndarray:
    """d/dp from d/d(-p log p / log C): times -(log p + 1) / log C."""
    return grad_info * -(np.log(p) + 1.0) / np.log(C)


def class_prior(p: np.ndarray) -> tuple[float, np.ndarray]:
    """Class-ratio prior value and its gradient w.r.t. p (N, C, H, W)."""
    target = MU * np.float32(np.array(HIST) / sum(HIST))  # the module keeps it in float32
    mean = p.mean(axis=(2, 3))                                   # (N, C)
    active = target[None] > mean
    assert active.any()  # the prior is not trivially zero on these images
    n, _, h, w = p.shape
    grad = np.broadcast_to((-active.astype(float) / n / (h * w))[:, :, None, None], p.shape)
    return float(np.maximum(target[None] - mean, 0).sum(axis=1).mean()), grad


def mean_entropy(p: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean normalised entropy of (N, C, H, W) probabilities and its gradient w.r.t. p."""
    npix = p.size // p.shape[1]
    return float(self_information(p).sum(axis=1).mean()), grad_info_wrt_p(p, np.full(p.shape, 1.0 / npix))


def cross_entropy(z: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean CE over pixels with label != 255 and its gradient w.r.t. the logits z."""
    p = softmax(z)
    valid = labels != 255
    onehot = np.stack([labels == c for c in range(C)], axis=1)
    picked = (p * onehot).sum(axis=1)[valid]
    grad = (p - onehot) * valid[:, None] / valid.sum()
    return float(-np.log(picked).mean()), grad


# ----------------------------------------------------------------------------- AdvEnt

def _advent(lambda_cp: float = 0.0) -> tuple[PixelSegmenter, AdvEnt]:
    prior = ClassRatioPrior(torch.tensor(HIST), MU).double() if lambda_cp else None
    return PixelSegmenter(MAIN, AUX), AdvEnt(conv1x1(*D_MAIN), conv1x1(*D_AUX), 0.3, 0.07,
                                             class_prior=prior, lambda_cp=lambda_cp)


def test_advent_calls_backward_on_seg_then_adversarial_then_discriminator_losses():
    seg, obj = _advent()
    source, target = _batches()
    calls = Backward(0, 1, 2)
    logs = obj.backward(seg, source, target, calls)
    assert len(calls.losses) == 3 and len(seg.outputs) == 2  # source forward, target forward
    seg_loss, _ = cross_entropy(_np(seg.outputs[0][0]), source.labels.numpy())
    aux_loss, _ = cross_entropy(_np(seg.outputs[0][1]), source.labels.numpy())
    assert calls.losses[0] == pytest.approx(seg_loss + 0.1 * aux_loss, abs=1e-12)
    assert logs["target/adv_main"] == pytest.approx(
        bce(d_out(obj.d_main, self_information(softmax(_np(seg.outputs[1][0])))), SOURCE), abs=1e-12)


def test_advent_discriminator_loss_and_gradient_are_half_bce_on_each_domain():
    """L_D = sum over levels of BCE(D(I_s), source) / 2 + BCE(D(I_t), target) / 2, on
    detached maps: D's gradient is its closed form, the segmenter gets none."""
    seg, obj = _advent()
    source, target = _batches()
    calls = Backward(2)
    obj.backward(seg, source, target, calls)
    (src_main, src_aux), (trg_main, trg_aux) = seg.outputs
    expected = 0.0
    for d, src, trg in ((obj.d_main, src_main, trg_main), (obj.d_aux, src_aux, trg_aux)):
        info_s, info_t = (self_information(softmax(_np(t))) for t in (src, trg))
        z_s, z_t = d_out(d, info_s), d_out(d, info_t)
        expected += bce(z_s, SOURCE) / 2 + bce(z_t, TARGET) / 2
        # d BCE(z, y) / dz = sigmoid(z) - y, averaged over the patch map, halved
        dz_s = (sigmoid(z_s) - SOURCE) / z_s.size / 2
        dz_t = (sigmoid(z_t) - TARGET) / z_t.size / 2
        grad_w = np.einsum("nhw,nchw->c", dz_s, info_s) + np.einsum("nhw,nchw->c", dz_t, info_t)
        np.testing.assert_allclose(_np(d.weight.grad).reshape(-1), grad_w, rtol=1e-10, atol=1e-14)
        assert d.bias.grad.item() == pytest.approx(dz_s.sum() + dz_t.sum(), abs=1e-14)
    assert calls.losses[2] == pytest.approx(expected, abs=1e-12)
    assert all(t.grad is None for out in seg.outputs for t in out)


def test_advent_adversarial_term_labels_target_maps_as_source_through_frozen_discriminators():
    """L_adv = sum over levels of lambda * BCE(D(I_t), source) (+ lambda_cp * prior on the
    main target output): its gradient reaches the target logits, never D or the source."""
    seg, obj = _advent(lambda_cp=0.2)
    source, target = _batches()
    calls = Backward(1)
    obj.backward(seg, source, target, calls)
    (src_main, src_aux), (trg_main, trg_aux) = seg.outputs
    expected = 0.0
    for d, trg, weight, with_prior in ((obj.d_main, trg_main, 0.3, True),
                                       (obj.d_aux, trg_aux, 0.07, False)):
        p = softmax(_np(trg))
        z = d_out(d, self_information(p))
        expected += weight * bce(z, SOURCE)
        dz = weight * (sigmoid(z) - SOURCE) / z.size
        grad_p = grad_info_wrt_p(p, dz[:, None] * _np(d.weight).reshape(1, C, 1, 1))
        if with_prior:
            cp, cp_grad = class_prior(p)
            expected += 0.2 * cp
            grad_p = grad_p + 0.2 * cp_grad
        np.testing.assert_allclose(_np(trg.grad), through_softmax(p, grad_p), rtol=1e-9, atol=1e-14)
    assert calls.losses[1] == pytest.approx(expected, abs=1e-12)
    assert src_main.grad is None and src_aux.grad is None
    assert all(p.grad is None for d in (obj.d_main, obj.d_aux) for p in d.parameters())


def test_one_training_step_moves_the_discriminator_towards_each_domain_label():
    """Through the loop (its Adam at lr_d): D's logit falls on source maps (label 0) and
    rises on target maps (label 1). Source pixels give P = (.5, .5, 0), target pixels
    (.5, 0, .5); D starts wrong way round (source looks like target)."""
    seg = PixelSegmenter(([[0.0, 0.0, 0.0], [0.0, -30.0, 0.0], [-30.0, 0.0, 0.0]], [0.0] * 3))
    d = conv1x1([[0.5, 1.0, -2.0]], [0.0])
    obj = AdvEnt(d, None, lambda_adv_main=0.01, lambda_adv_aux=0.0)
    images = torch.zeros(2, 3, 2, 2, dtype=torch.uint8)
    source, target = images.clone(), images.clone()
    source[:, 0], target[:, 1] = 255, 255
    labels = torch.zeros(2, 2, 2, dtype=torch.long)
    with torch.no_grad():
        info = [torch.from_numpy(self_information(softmax(_np(seg(x)[0])))) for x in (source, target)]
        before = [d(i).mean().item() for i in info]
    assert before[0] > 0 > before[1]
    cfg = TrainConfig(batch_size=2, lr=0.01, lr_d=0.001, device="cpu", log_every=1)
    weight_before = d.weight.detach().clone()
    train(seg, obj, Images(source, labels), Images(target, labels), cfg, 1)
    with torch.no_grad():
        after = [d(i).mean().item() for i in info]
    assert after[0] < before[0] and after[1] > before[1]
    # Adam's first step moves each weight with a clear gradient by lr_d (not the segmenter's lr)
    step = (d.weight.detach() - weight_before).flatten()[1:]
    np.testing.assert_allclose(step.abs().numpy(), [0.001, 0.001], rtol=1e-4)


# ----------------------------------------------------------------------------- MinEnt

def test_minent_entropy_term_gradient_is_the_analytic_one_weighted_by_lambda():
    """L = lambda_main * H(main) + lambda_aux * H(aux) + lambda_cp * prior(main) on the
    target; dH/dz_k = -p_k (log p_k + H) / log C per pixel, over the pixel count."""
    seg = PixelSegmenter(MAIN, AUX)
    prior = ClassRatioPrior(torch.tensor(HIST), MU).double()
    obj = MinEnt(0.4, 0.05, class_prior=prior, lambda_cp=0.2)
    source, target = _batches()
    calls = Backward(1)
    obj.backward(seg, source, target, calls)
    assert len(calls.losses) == 2
    (src_main, src_aux), (trg_main, trg_aux) = seg.outputs
    p_main, p_aux = softmax(_np(trg_main)), softmax(_np(trg_aux))
    (h_main, g_main), (h_aux, g_aux) = mean_entropy(p_main), mean_entropy(p_aux)
    cp, g_cp = class_prior(p_main)
    assert calls.losses[1] == pytest.approx(0.4 * h_main + 0.05 * h_aux + 0.2 * cp, abs=1e-12)
    np.testing.assert_allclose(_np(trg_main.grad), through_softmax(p_main, 0.4 * g_main + 0.2 * g_cp),
                               rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(_np(trg_aux.grad), through_softmax(p_aux, 0.05 * g_aux),
                               rtol=1e-9, atol=1e-14)
    # the closed form of the entropy gradient itself, per pixel
    h_nat = -(p_main * np.log(p_main)).sum(axis=1, keepdims=True)
    npix = p_main.size // C
    np.testing.assert_allclose(through_softmax(p_main, g_main),
                               -p_main * (np.log(p_main) + h_nat) / np.log(C) / npix, rtol=1e-9)
    assert src_main.grad is None and src_aux.grad is None


# ----------------------------------------------------------------------------- self-training

def test_self_training_ignored_pixels_carry_no_gradient_and_lambdas_weight_each_domain():
    seg = PixelSegmenter(MAIN, AUX)
    obj = SelfTraining(lambda_target=2.0, lambda_seg_aux=0.1, lambda_source=0.5)
    source, target = _batches()
    calls = Backward(0, 1)
    obj.backward(seg, source, target, calls)
    assert len(calls.losses) == 2
    for (main, aux), batch, weight, call in ((seg.outputs[0], source, 0.5, 0),
                                             (seg.outputs[1], target, 2.0, 1)):
        labels = batch.labels.numpy()
        (ce_main, g_main), (ce_aux, g_aux) = (cross_entropy(_np(t), labels) for t in (main, aux))
        assert calls.losses[call] == pytest.approx(weight * (ce_main + 0.1 * ce_aux), abs=1e-12)
        np.testing.assert_allclose(_np(main.grad), weight * g_main, rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(_np(aux.grad), weight * 0.1 * g_aux, rtol=1e-10, atol=1e-15)
    ignored = target.labels == 255
    assert ignored.sum() == 5
    trg_main, trg_aux = seg.outputs[1]
    for grad in (trg_main.grad, trg_aux.grad):
        assert torch.count_nonzero(grad.permute(0, 2, 3, 1)[ignored]) == 0
        assert torch.count_nonzero(grad.permute(0, 2, 3, 1)[~ignored]) == C * 7
