"""The ``train``, ``pretrain`` and ``oracle`` sections: optimisation, supervised trainings."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from advent.config import ConfigError
from advent.params._checks import _at_least, _positive


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by every training stage (advent.train.train).

    batch_size is the *global* batch per optimiser step; each process takes
    batch_size / (world_size * grad_accum) samples per micro-step.

    threads and cpu_capability decide the float arithmetic on CPU (and so the exact
    numbers of a run): torch's thread count (0 = its default, one per core) and the
    kernel set (``native`` = the best this CPU runs; ``avx2`` or ``default`` make an
    AVX-512 machine compute like an older one). Inference stages honour them too.

    ema_decay > 0 makes a stage's result (its model file and snapshots) the exponential
    moving average of the segmenter's weights and BN statistics over its iterations,
    not the last iterate; 0 = the last iterate (the paper).
    """

    seed: int = 0
    device: str = "auto"
    threads: int = 0
    cpu_capability: Literal["native", "avx512", "avx2", "default"] = "native"
    batch_size: int = 8
    lr: float = 2.5e-4
    momentum: float = 0.9
    weight_decay: float = 5e-4
    head_lr_mult: float = 10.0
    poly_power: float = 0.9
    schedule_iterations: int = 0
    warmup_iterations: int = 0
    ema_decay: float = 0.0
    lr_d: float = 1e-4
    lambda_seg_aux: float = 0.1
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    channels_last: bool = False
    grad_accum: int = 1
    workers: int = 0
    sync_bn: bool = False
    checkpoint_every: int = 500
    snapshot_every: int = 0
    log_every: int = 10

    def validate(self, key: str) -> None:
        _at_least(key, self, 0, "seed", "threads", "workers", "schedule_iterations",
                  "warmup_iterations", "snapshot_every", "weight_decay", "lambda_seg_aux")
        _at_least(key, self, 1, "batch_size", "grad_accum", "checkpoint_every", "log_every")
        if self.batch_size % self.grad_accum:
            raise ConfigError(f"{key}.batch_size ({self.batch_size}) must be a multiple of "
                              f"{key}.grad_accum ({self.grad_accum})")
        _positive(key, self, "lr", "lr_d", "head_lr_mult", "poly_power")
        if not 0.0 <= self.momentum < 1.0:
            raise ConfigError(f"{key}.momentum must be in [0, 1), got {self.momentum}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"{key}.ema_decay must be in [0, 1), got {self.ema_decay}")
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            raise ConfigError(f"{key}.device must be auto, cpu, cuda or cuda:N, got {self.device!r}")


@dataclass(frozen=True)
class PretrainParams:
    """Source-only training, the start of adaptation. ``warmup_iterations`` overrides
    ``train.warmup_iterations`` for this stage alone (None: train's), so a from-scratch
    start can ramp up while the fine-tuning stages after it do not."""

    iterations: int = 1000
    warmup_iterations: int | None = None

    def validate(self, key: str) -> None:
        _at_least(key, self, 1, "iterations")
        if self.warmup_iterations is not None:
            _at_least(key, self, 0, "warmup_iterations")


@dataclass(frozen=True)
class OracleParams:
    """Supervised training on the target's own labels: the upper bound."""

    iterations: int = 1000

    def validate(self, key: str) -> None:
        _at_least(key, self, 1, "iterations")
