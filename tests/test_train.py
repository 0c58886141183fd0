"""The training loop: exact resume, data order, NaN guard, and the methods' plumbing."""
import dataclasses

import pytest
import torch
from torch.utils.data import Dataset

from advent.methods import AdvEnt, Batch, MinEnt, SelfTraining, SourceOnly
from advent.models import Discriminator, ModelConfig, build_segmenter
from advent.params import TrainConfig
from advent.train import StepBatchSampler, make_segmenter_optimizer, poly_lr, train
from tests.tiny_nets import PixelSegmenter

C = 5


class Toy(Dataset):
    def __init__(self, n=12, size=32, seed=0, classes=C):
        g = torch.Generator().manual_seed(seed)
        self.images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)
        self.labels = torch.randint(0, classes, (n, size, size), generator=g)
        self.labels[:, :2] = 255

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], self.labels[i], i


CFG = TrainConfig(batch_size=4, lr=0.01, device="cpu", checkpoint_every=2, log_every=1)


def _segmenter():
    torch.manual_seed(0)
    return build_segmenter(ModelConfig(width=4), C)


def _advent():
    torch.manual_seed(1)
    return AdvEnt(Discriminator(C, 8, 3), Discriminator(C, 8, 3), 0.01, 0.002)


def _run(tmp_path, objective, iterations, log=None, name="ckpt.pt"):
    return train(_segmenter(), objective, Toy(), Toy(seed=1), CFG, iterations,
                 checkpoint_path=tmp_path / name, fingerprint="f", log=log)


#: A 1x1-conv segmenter's (weight, bias) for 3 classes (tests.tiny_nets.PixelSegmenter).
PIXEL_HEAD = ([[1.0, -1.0, 0.5], [0.0, 2.0, -1.0], [-0.5, 0.5, 1.0]], [0.0, 0.1, -0.1])


def _interrupted_then_resumed(make_run, tmp_path, stop_after):
    """(uninterrupted result, result of a run stopped after ``stop_after`` steps and resumed)."""
    straight = make_run(tmp_path / "straight.pt", None)

    class Interrupt(Exception):
        pass

    def stop(step, logs):
        if step == stop_after + 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        make_run(tmp_path / "resumed.pt", stop)
    assert torch.load(tmp_path / "resumed.pt", weights_only=True)["step"] == stop_after
    return straight, make_run(tmp_path / "resumed.pt", None)


def _assert_same_weights(a, b):
    for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), k


def test_interrupted_then_resumed_run_is_bit_exact(tmp_path):
    def run(path, log):
        return train(_segmenter(), _advent(), Toy(), Toy(seed=1), CFG, 5,
                     checkpoint_path=path, fingerprint="f", log=log)

    _assert_same_weights(*_interrupted_then_resumed(run, tmp_path, stop_after=2))


def test_interrupted_then_resumed_run_with_weight_averaging_is_bit_exact(tmp_path):
    cfg = dataclasses.replace(CFG, ema_decay=0.8)

    def run(path, log):
        return train(_segmenter(), _advent(), Toy(), Toy(seed=1), cfg, 5,
                     checkpoint_path=path, fingerprint="f", log=log)

    _assert_same_weights(*_interrupted_then_resumed(run, tmp_path, stop_after=2))


def test_weight_averaging_returns_the_moving_average_of_every_iterate():
    """With ema_decay d the result is e_1 = w_1, e_t = d e_(t-1) + (1 - d) w_t over the
    iterates w_t of the same run without averaging, for weights and BN statistics alike."""
    cfg = dataclasses.replace(CFG, schedule_iterations=10)  # the same rates whatever the length
    iterates = [train(_segmenter(), SourceOnly(0.1), Toy(), None, cfg, t).state_dict()
                for t in (1, 2, 3)]
    decay = 0.7
    averaged = train(_segmenter(), SourceOnly(0.1), Toy(), None,
                     dataclasses.replace(cfg, ema_decay=decay), 3).state_dict()
    last = iterates[-1]
    for key, value in averaged.items():
        if not value.is_floating_point():
            continue
        expected = iterates[0][key]
        for w in iterates[1:]:
            expected = decay * expected + (1 - decay) * w[key]
        torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6, msg=key)
    assert any(not torch.allclose(averaged[k], last[k]) for k in last if last[k].is_floating_point())


def test_resume_is_bit_exact_when_training_draws_random_numbers(tmp_path):
    """Dropout draws from torch's global RNG at every step, so the resumed run matches
    only if the checkpoint's RNG state is restored and nothing else moves it."""
    cfg = dataclasses.replace(CFG, batch_size=2, checkpoint_every=2, lr=0.5)
    source, target = Toy(8, size=4, classes=3), Toy(8, size=4, seed=1, classes=3)

    def run(path, log):
        return train(PixelSegmenter(PIXEL_HEAD, dropout=0.5), MinEnt(0.5, 0.0), source, target, cfg, 5,
                     checkpoint_path=path, fingerprint="f", log=log)

    _assert_same_weights(*_interrupted_then_resumed(run, tmp_path, stop_after=2))


def test_gradient_accumulation_takes_the_same_step_as_the_whole_batch():
    data = Toy(8, size=4, classes=3)  # as many valid pixels in every image: means average
    results = [train(PixelSegmenter(PIXEL_HEAD), SourceOnly(), data, None,
                     dataclasses.replace(CFG, grad_accum=accum), 2).main.weight.detach()
               for accum in (1, 2, 4)]
    torch.testing.assert_close(results[1], results[0], rtol=0, atol=1e-13)
    torch.testing.assert_close(results[2], results[0], rtol=0, atol=1e-13)


def test_learning_rate_follows_the_poly_schedule_over_schedule_iterations():
    logged = []
    cfg = dataclasses.replace(CFG, lr=0.2, poly_power=0.9, schedule_iterations=10)
    train(PixelSegmenter(PIXEL_HEAD), SourceOnly(), Toy(8, size=4, classes=3), None, cfg, 3,
          log=lambda step, logs: logged.append(logs["lr"]))
    assert logged == pytest.approx([0.2, 0.2 * 0.9 ** 0.9, 0.2 * 0.8 ** 0.9], abs=1e-15)


def test_warmup_ramps_the_rate_linearly_then_hands_over_to_the_poly_schedule():
    logged = []
    cfg = dataclasses.replace(CFG, lr=0.2, poly_power=1.0, schedule_iterations=10,
                              warmup_iterations=2, lr_d=0.1)
    train(PixelSegmenter(PIXEL_HEAD), SourceOnly(), Toy(8, size=4, classes=3), None, cfg, 3,
          log=lambda step, logs: logged.append(logs["lr"]))
    assert logged == pytest.approx([0.2 * 0.5, 0.2 * 0.9, 0.2 * 0.8], abs=1e-15)
    assert poly_lr(0.1, 0, 10, 1.0, warmup=4) == pytest.approx(0.025)


def test_checkpoint_of_another_configuration_is_not_resumed(tmp_path, capsys):
    _run(tmp_path, SourceOnly(), 2)
    capsys.readouterr()
    steps = []
    train(_segmenter(), SourceOnly(), Toy(), None, CFG, 2, checkpoint_path=tmp_path / "ckpt.pt",
          fingerprint="other", log=lambda s, _: steps.append(s))
    # Started from scratch: a resumed run would replay the same logged steps, so the
    # log alone cannot tell; a resumed one says so.
    assert steps == [1, 2] and "resuming" not in capsys.readouterr().out


def test_batches_do_not_depend_on_world_size_or_accumulation():
    single = [i for b in StepBatchSampler(10, 4, 7, 0, 6) for i in b]
    split = []
    for step in range(6):
        for m in range(2):
            for rank in range(2):
                s = StepBatchSampler(10, 4, 7, step, step + 1, rank=rank, world=2, accum=2)
                split += list(s)[m]
    assert split == single
    # every epoch is a permutation of the whole set
    assert sorted(single[:10]) == list(range(10))
    with pytest.raises(ValueError, match="not divisible"):
        StepBatchSampler(10, 6, 0, 0, 1, world=4)


def test_nan_loss_stops_with_iteration_and_writes_nothing(tmp_path):
    seg = _segmenter()
    with torch.no_grad():
        seg.net.layer6.conv2d_list[0].bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="iteration 0"):
        train(seg, SourceOnly(), Toy(), None, CFG, 3, checkpoint_path=tmp_path / "c.pt")
    assert not (tmp_path / "c.pt").exists()


def test_adaptation_never_sees_target_labels():
    seen = []

    class Spy(MinEnt):
        def backward(self, segmenter, source, target, backward):
            seen.append(target.labels)
            return super().backward(segmenter, source, target, backward)

    train(_segmenter(), Spy(0.01, 0.0), Toy(), Toy(seed=1), CFG, 1)
    assert seen == [None]


def test_self_training_weights_source_and_pseudo_losses():
    seg = _segmenter()
    src, trg = Toy(4), Toy(4, seed=1)
    source, target = Batch(src.images, src.labels), Batch(trg.images, trg.labels)
    losses = {}
    for lam_src in (1.0, 0.5, 0.0):
        recorded = []
        logs = SelfTraining(2.0, 0.0, lambda_source=lam_src).backward(
            seg, source, target, lambda loss: recorded.append(loss.item()))
        losses[lam_src] = (logs, recorded)
    logs, recorded = losses[1.0]
    assert recorded == pytest.approx([logs["source/seg_main"], 2.0 * logs["pseudo/seg_main"]])
    assert losses[0.5][1][0] == pytest.approx(0.5 * logs["source/seg_main"])
    logs0, recorded0 = losses[0.0]
    assert "source/seg_main" not in logs0 and recorded0 == pytest.approx([2.0 * logs["pseudo/seg_main"]])


def test_generator_adversarial_loss_leaves_discriminator_gradients_alone():
    """D's gradient comes only from its own loss, whatever lambda_adv is."""
    seg = _segmenter()
    src, trg = Toy(4), Toy(4, seed=1)
    source = Batch(src.images, src.labels)
    target = Batch(trg.images)
    grads = []
    for lam in (0.0, 10.0):
        obj = _advent()
        obj.lambda_adv_main = obj.lambda_adv_aux = lam
        seg.zero_grad()
        obj.backward(seg, source, target, lambda loss: loss.backward())
        grads.append([p.grad.clone() for p in obj.d_main.parameters()])
        assert all(p.requires_grad for p in obj.d_main.parameters())
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_heads_get_ten_times_the_backbone_rate_and_parameters_appear_once():
    seg = _segmenter()
    opt = make_segmenter_optimizer(seg, dataclasses.replace(CFG, head_lr_mult=10.0))
    ids = [id(p) for g in opt.param_groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == sum(p.requires_grad for p in seg.parameters())
    assert [g["lr_mult"] for g in opt.param_groups] == [1.0, 10.0]
    assert poly_lr(1.0, 0, 100, 0.9) == 1.0 and poly_lr(1.0, 100, 100, 0.9) == 0.0
    assert poly_lr(1.0, 50, 100, 0.9) == pytest.approx(0.5 ** 0.9)


class RecordingSnapshots:
    def __init__(self):
        self.begun, self.saved = [], []

    def begin(self, start):
        self.begun.append(start)

    def save(self, step, segmenter):
        self.saved.append((step, segmenter.training))


def test_snapshots_every_n_iterations_before_the_last_and_resume_continues_them(tmp_path):
    cfg = dataclasses.replace(CFG, snapshot_every=2)
    sink = RecordingSnapshots()
    train(_segmenter(), SourceOnly(), Toy(), None, cfg, 5, checkpoint_path=tmp_path / "c.pt",
          fingerprint="f", snapshots=sink)
    assert sink.begun == [0] and [s for s, _ in sink.saved] == [2, 4]  # 5 = the model file

    class Interrupt(Exception):
        pass

    def stop_at_3(step, logs):
        if step == 3:
            raise Interrupt

    sink = RecordingSnapshots()
    with pytest.raises(Interrupt):
        train(_segmenter(), SourceOnly(), Toy(), None, cfg, 5, checkpoint_path=tmp_path / "d.pt",
              fingerprint="f", snapshots=sink, log=stop_at_3)
    train(_segmenter(), SourceOnly(), Toy(), None, cfg, 5, checkpoint_path=tmp_path / "d.pt",
          fingerprint="f", snapshots=sink)
    assert sink.begun == [0, 2] and [s for s, _ in sink.saved] == [2, 4]


def test_resumed_run_logs_the_same_records_as_an_uninterrupted_one(tmp_path):
    """The stage's DVCLive folder starts empty on every run: a resume must hand the logger
    the records from before its checkpoint, the partial loss sums of the record that the
    checkpoint cut (log_every 3 against checkpoint_every 2) included."""
    cfg = dataclasses.replace(CFG, log_every=3)

    def run(path, log):
        return train(_segmenter(), _advent(), Toy(), Toy(seed=1), cfg, 7,
                     checkpoint_path=path, fingerprint="f", log=log)

    def recorded(stop_at=None):
        records = []

        def log(step, values):
            if step == stop_at:
                raise Interrupt
            records.append((step, values))
        return records, log

    class Interrupt(Exception):
        pass

    straight, log = recorded()
    run(tmp_path / "straight.pt", log)
    assert [s for s, _ in straight] == [3, 6, 7]

    _, log = recorded(stop_at=6)  # the checkpoint at 4 holds record 3 and step 4's loss sums
    with pytest.raises(Interrupt):
        run(tmp_path / "resumed.pt", log)
    assert torch.load(tmp_path / "resumed.pt", weights_only=True)["step"] == 4
    resumed, log = recorded()
    run(tmp_path / "resumed.pt", log)
    assert resumed == straight

    again, log = recorded()  # a finished run resumed at its end: the same curves again
    run(tmp_path / "straight.pt", log)
    assert again == straight


def test_snapshot_writer_keeps_only_snapshots_up_to_the_resumed_step(tmp_path):
    from advent.snapshot import SnapshotWriter, list_snapshots, load_segmenter

    seg, cfg = _segmenter(), ModelConfig(width=4)
    writer = SnapshotWriter(tmp_path / "snapshots", cfg, "cityscapes19", {"method": "minent"})
    writer.begin(0)
    assert (tmp_path / "snapshots").is_dir() and list_snapshots(tmp_path / "snapshots") == []
    for step in (200, 400, 600):
        writer.save(step, seg)
    (tmp_path / "snapshots" / "notes.txt").write_text("not a snapshot")
    assert [i for i, _ in list_snapshots(tmp_path / "snapshots")] == [200, 400, 600]
    _, data = load_segmenter(tmp_path / "snapshots" / "iter_000400.pt")
    assert data["info"] == {"method": "minent", "iteration": 400}
    writer.begin(400)  # resumed at 400: the interrupted run's 600 is stale
    assert [i for i, _ in list_snapshots(tmp_path / "snapshots")] == [200, 400]
    writer.begin(0)  # a fresh run: none of the old ones belong to it
    assert list_snapshots(tmp_path / "snapshots") == []


def test_model_files_load_strictly(tmp_path):
    from advent.snapshot import load_segmenter, read_model_file, save_segmenter

    seg = _segmenter()
    save_segmenter(tmp_path / "model.pt", seg, ModelConfig(width=4), "cityscapes19")
    _assert_same_weights(load_segmenter(tmp_path / "model.pt")[0].net, seg.net)
    data = read_model_file(tmp_path / "model.pt")
    data["state_dict"]["layer7.weight"] = torch.zeros(1)
    torch.save(data, tmp_path / "extra.pt")
    with pytest.raises(RuntimeError, match="layer7.weight"):
        load_segmenter(tmp_path / "extra.pt")
    del data["state_dict"]["layer7.weight"], data["state_dict"]["layer6.conv2d_list.0.bias"]
    torch.save(data, tmp_path / "missing.pt")
    with pytest.raises(RuntimeError, match="layer6.conv2d_list.0.bias"):
        load_segmenter(tmp_path / "missing.pt")
