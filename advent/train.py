"""The one training loop, for every method and both scales.

Devices (CPU, CUDA), precision (fp32, bf16, fp16 with loss scaling), channels_last,
gradient accumulation, DDP under ``torchrun`` (one process per device, rank 0 writes),
poly learning rate, weight averaging (EMA), checkpoints every N iterations and exact
resume. What a method
adds (its losses, its discriminators) comes in as an :class:`~advent.methods.Objective`.

Batches are a pure function of (seed, iteration): the sample at global position ``p``
is ``permutation(seed, epoch)[p % n]``. Resuming therefore needs no iterator state, and
the global batch is the same whatever the number of processes or accumulation steps.
What else is random in the main process (dropout, noise, augmentation) draws from the
global RNGs, whose state every checkpoint saves and a resume restores. DataLoader
workers restart their RNGs on resume: randomness there must be a function of the
sample's position, as the order is.
"""
from __future__ import annotations

import random
from collections import defaultdict
from contextlib import nullcontext
from pathlib import Path
from typing import Callable, Iterator, Protocol

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, Dataset, Sampler

from advent.io import UnreadableFileError, describe_object, load_torch_file, torch_save
from advent.methods import Batch, Objective
from advent.params import TrainConfig
from advent.runtime import init_distributed, is_main_process, resolve_device, seed_everything


# ----------------------------------------------------------------------------- data order

class StepBatchSampler(Sampler[list[int]]):
    """Index lists for micro-batches of steps ``start .. iterations - 1`` of this rank.

    Global position ``p = step * batch_size + j``; epoch ``p // n`` fixes a seeded
    permutation. Rank ``r``, micro-step ``m`` takes positions ``j`` in
    ``[(m * world + r) * micro, (m * world + r + 1) * micro)``.
    """

    def __init__(self, n: int, batch_size: int, seed: int, start: int, iterations: int,
                 rank: int = 0, world: int = 1, accum: int = 1) -> None:
        if batch_size % (world * accum):
            raise ValueError(f"batch size {batch_size} is not divisible by "
                             f"world size {world} x grad_accum {accum}")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.start, self.iterations = start, iterations
        self.rank, self.world, self.accum = rank, world, accum
        self.micro = batch_size // (world * accum)
        self._perms: dict[int, np.ndarray] = {}

    def _index(self, position: int) -> int:
        epoch = position // self.n
        perm = self._perms.get(epoch)
        if perm is None:
            self._perms = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.n)}
            perm = self._perms[epoch]
        return int(perm[position % self.n])

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start, self.iterations):
            for m in range(self.accum):
                first = step * self.batch_size + (m * self.world + self.rank) * self.micro
                yield [self._index(p) for p in range(first, first + self.micro)]

    def __len__(self) -> int:
        return (self.iterations - self.start) * self.accum


def _loader(dataset: Dataset, cfg: TrainConfig, seed: int, start: int, iterations: int,
            rank: int, world: int, device: torch.device) -> Iterator:
    sampler = StepBatchSampler(len(dataset), cfg.batch_size, seed, start, iterations,
                               rank, world, cfg.grad_accum)
    # Its own generator: starting an iterator draws a worker seed, which must not move
    # the global RNG that the training consumes and a resume restores.
    return iter(DataLoader(dataset, batch_sampler=sampler, num_workers=cfg.workers,
                           pin_memory=device.type == "cuda", persistent_workers=False,
                           generator=torch.Generator().manual_seed(seed)))


# ----------------------------------------------------------------------------- optimisation

def poly_lr(base: float, step: int, total: int, power: float, warmup: int = 0) -> float:
    """The rate of (0-based) ``step``: poly decay over ``total`` steps, ramped up linearly
    over the first ``warmup`` steps (step 0 runs at base / warmup)."""
    ramp = min(1.0, (step + 1) / warmup) if warmup else 1.0
    return ramp * base * (1.0 - min(step, total) / total) ** power


def _set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_mult", 1.0)


def make_segmenter_optimizer(segmenter: nn.Module, cfg: TrainConfig) -> torch.optim.SGD:
    """SGD with heads at ``head_lr_mult`` x the backbone rate, each parameter once.

    (The official code lists backbone parameters in several groups by mistake, so
    they are updated several times per step; here each parameter is in one group.)
    """
    backbone, heads = segmenter.param_groups()
    groups = [{"params": backbone, "lr_mult": 1.0}, {"params": heads, "lr_mult": cfg.head_lr_mult}]
    return torch.optim.SGD([g for g in groups if g["params"]], lr=cfg.lr, momentum=cfg.momentum,
                           weight_decay=cfg.weight_decay, foreach=True)


def _average_gradients(module: nn.Module, world: int) -> None:
    """All-reduce-mean the gradients of a module that DDP does not wrap."""
    for p in module.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad.div_(world)


def make_weight_average(segmenter: nn.Module, decay: float) -> AveragedModel | None:
    """The exponential moving average of ``segmenter``'s weights *and* buffers (BN
    statistics), or None for ``decay == 0``. Its first update copies the weights."""
    if not decay:
        return None
    return AveragedModel(segmenter, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


# ----------------------------------------------------------------------------- checkpoints

def _rng_state() -> dict:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss)}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_resume_state(path: Path, fingerprint: str) -> dict | None:
    """The checkpoint at ``path`` if it belongs to this exact configuration, else None."""
    if not path.is_file():
        return None
    try:
        state = load_torch_file(path, "resume checkpoint")
    except UnreadableFileError as err:
        raise UnreadableFileError(f"{err} (delete it to train from the start)") from None
    if not isinstance(state, dict):
        raise UnreadableFileError(f"{path}: not a resume checkpoint: a PyTorch file holding "
                                  f"{describe_object(state)} (delete it to train from the start)")
    return state if state.get("fingerprint") == fingerprint else None


# ----------------------------------------------------------------------------- the loop

LogFn = Callable[[int, dict[str, float]], None]


class SnapshotSink(Protocol):
    """Receives the segmenter every ``snapshot_every`` iterations (for model selection)."""

    def begin(self, start: int) -> None:
        """Called once before the first step; ``start`` > 0 when resuming."""

    def save(self, step: int, segmenter: nn.Module) -> None:
        """Store the (unwrapped) segmenter after ``step`` iterations."""


class TrainObserver:
    """Hooks into the loop for tools and tests that watch it (the DDP harness); the
    defaults do nothing. Called on every rank unless said otherwise."""

    def micro_step(self, step: int, losses: dict[str, float]) -> None:
        """This rank's losses of one micro-step of optimiser step ``step`` (0-based)."""

    def checkpoint_written(self, step: int, path: Path) -> None:
        """Called by the rank that wrote the resume checkpoint after ``step`` iterations."""


def train(segmenter: nn.Module, objective: Objective, source: Dataset, target: Dataset | None,
          cfg: TrainConfig, iterations: int, checkpoint_path: Path | None = None,
          fingerprint: str = "", log: LogFn | None = None,
          snapshots: SnapshotSink | None = None,
          observer: TrainObserver | None = None) -> nn.Module:
    """Train ``segmenter`` (and the objective's discriminators) for ``iterations`` steps.

    Resumes from ``checkpoint_path`` when it holds a checkpoint with the same
    ``fingerprint`` (a digest of everything that defines the run); a resumed run first
    hands ``log`` the records logged before the checkpoint, so ``log`` sees the same
    records as in an uninterrupted run. Every
    ``cfg.snapshot_every`` iterations before the last, rank 0 hands the segmenter to
    ``snapshots``. ``observer`` sees every micro-step's losses and every checkpoint
    write. Returns the trained segmenter (unwrapped, on the training device); with
    ``cfg.ema_decay`` > 0, the moving average of its weights, which snapshots hold too.
    """
    observer = observer or TrainObserver()
    if objective.needs_target and target is None:
        raise ValueError(f"{type(objective).__name__} needs a target dataset")
    device = resolve_device(cfg.device)
    rank, world = init_distributed(device)
    seed_everything(cfg.seed)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    if cfg.sync_bn and world > 1 and device.type == "cpu":
        raise ValueError("train.sync_bn needs CUDA (SyncBatchNorm does not run on CPU/gloo)")
    if cfg.sync_bn and world > 1:
        segmenter = nn.SyncBatchNorm.convert_sync_batchnorm(segmenter)
    segmenter.to(device, memory_format=memory_format).train()
    objective.to(device).train()
    extra = objective.modules_to_train()

    opt_g = make_segmenter_optimizer(segmenter, cfg)
    opt_d = {name: torch.optim.Adam(m.parameters(), lr=cfg.lr_d, betas=(0.9, 0.99))
             for name, m in extra.items()}
    if cfg.precision == "fp16" and device.type != "cuda":
        raise ValueError("train.precision fp16 needs CUDA; use bf16 or fp32 on CPU")
    scaler = torch.amp.GradScaler("cuda", enabled=cfg.precision == "fp16")
    autocast = (torch.autocast(device.type, dtype=getattr(torch, {"bf16": "bfloat16", "fp16": "float16"}[cfg.precision]))
                if cfg.precision != "fp32" else nullcontext())

    average = make_weight_average(segmenter, cfg.ema_decay)
    result = segmenter if average is None else average.module

    start = 0
    # Every logged record so far, and the partial sums of the next one: kept in the
    # checkpoint so a resumed run's curves read as the uninterrupted run's (the stage's
    # DVCLive folder starts empty on every run).
    history: list[tuple[int, dict[str, float]]] = []
    sums: dict[str, float] = defaultdict(float)
    count = 0
    state = load_resume_state(checkpoint_path, fingerprint) if checkpoint_path else None
    if state is not None:
        segmenter.load_state_dict(state["segmenter"])
        if average is not None:
            average.load_state_dict(state["average"])
        for name, m in extra.items():
            m.load_state_dict(state["modules"][name])
        opt_g.load_state_dict(state["opt_g"])
        for name, opt in opt_d.items():
            opt.load_state_dict(state["opt_d"][name])
        scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"])
        start = state["step"]
        logged = state.get("log", {"history": [], "sums": {}, "count": 0})
        history = [(step, dict(values)) for step, values in logged["history"]]
        sums.update(logged["sums"])
        count = logged["count"]
        if is_main_process():
            print(f"resuming from {checkpoint_path} at iteration {start}/{iterations}", flush=True)
            if log is not None:
                for logged_step, values in history:
                    log(logged_step, values)

    if snapshots is not None and is_main_process():
        snapshots.begin(start)

    model: nn.Module = segmenter
    if world > 1:
        # find_unused_parameters: an output in no loss (aux head with lambda 0) would
        # otherwise stop DDP at the next iteration.
        model = nn.parallel.DistributedDataParallel(
            segmenter, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True)
        # DDP copies rank 0's segmenter; the modules it does not wrap must start equal too.
        with torch.no_grad():
            for m in extra.values():
                for t in [*m.parameters(), *m.buffers()]:
                    dist.broadcast(t, src=0)

    total = cfg.schedule_iterations or iterations
    src_iter = _loader(source, cfg, cfg.seed, start, iterations, rank, world, device)
    trg_iter = (_loader(target, cfg, cfg.seed + 1, start, iterations, rank, world, device)
                if objective.needs_target else None)

    def to_batch(item) -> Batch:
        images, labels, _ = item
        images = images.to(device, non_blocking=True).contiguous(memory_format=memory_format)
        return Batch(images, labels.to(device, non_blocking=True))

    for step in range(start, iterations):
        lr = poly_lr(cfg.lr, step, total, cfg.poly_power, cfg.warmup_iterations)
        _set_lr(opt_g, lr)
        for opt in opt_d.values():
            _set_lr(opt, poly_lr(cfg.lr_d, step, total, cfg.poly_power, cfg.warmup_iterations))
        opt_g.zero_grad(set_to_none=True)
        for opt in opt_d.values():
            opt.zero_grad(set_to_none=True)

        def backward(loss: torch.Tensor) -> None:
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"non-finite loss ({loss.item()}) at iteration {step}; no output was written")
            scaler.scale(loss / cfg.grad_accum).backward()

        for micro_step in range(cfg.grad_accum):
            src = to_batch(next(src_iter))
            trg = to_batch(next(trg_iter)) if trg_iter is not None else None
            if trg is not None and not objective.uses_target_labels:
                trg.labels = None  # adaptation never sees target ground truth
            # Under DDP, all-reduce the segmenter's gradients once per optimiser step.
            last = micro_step == cfg.grad_accum - 1
            sync = model.no_sync() if world > 1 and not last else nullcontext()
            with autocast, sync:
                logs = objective.backward(model, src, trg, backward)
            observer.micro_step(step, logs)
            for k, v in logs.items():
                sums[k] += v
            count += 1

        if world > 1:
            for m in extra.values():
                _average_gradients(m, world)
        scaler.step(opt_g)
        for opt in opt_d.values():
            scaler.step(opt)
        scaler.update()
        if average is not None:
            average.update_parameters(segmenter)

        done = step + 1
        if done % cfg.log_every == 0 or done == iterations:
            means = {k: v / count for k, v in sums.items()}
            if world > 1:  # the global batch's losses, not rank 0's share (every rank joins)
                keys = sorted(means)
                packed = torch.tensor([means[k] for k in keys], dtype=torch.float64, device=device)
                dist.all_reduce(packed)
                means = dict(zip(keys, (packed / world).tolist()))
            history.append((done, {"lr": lr, **means}))
            if log is not None and is_main_process():
                log(*history[-1])
            sums.clear()
            count = 0
        # Snapshot before checkpoint: a run resumed at a checkpoint has every snapshot up to it.
        if (snapshots is not None and cfg.snapshot_every and done % cfg.snapshot_every == 0
                and done < iterations and is_main_process()):
            snapshots.save(done, result)
        if checkpoint_path is not None and (done % cfg.checkpoint_every == 0 or done == iterations):
            if is_main_process():
                torch_save({
                    "fingerprint": fingerprint, "step": done,
                    "segmenter": segmenter.state_dict(),
                    **({"average": average.state_dict()} if average is not None else {}),
                    "modules": {n: m.state_dict() for n, m in extra.items()},
                    "opt_g": opt_g.state_dict(),
                    "opt_d": {n: o.state_dict() for n, o in opt_d.items()},
                    "scaler": scaler.state_dict(), "rng": _rng_state(),
                    "log": {"history": history, "sums": dict(sums), "count": count},
                }, checkpoint_path)
                observer.checkpoint_written(done, checkpoint_path)
            if world > 1:
                dist.barrier()
    return result

