"""The schema of ``params.yaml``: one strict dataclass per section.

Stage scripts read the sections they declare in ``dvc.yaml`` through
:func:`load_params`; every other module receives plain objects.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal

from advent.config import ConfigError, from_dict, load_yaml
from advent.data.domains import DataConfig
from advent.models import ModelConfig
from advent.train import TrainConfig


@dataclass(frozen=True)
class InitParams:
    """Pretrained weights every training from scratch starts from ("" = random init).

    layout: auto | advent | deeplab_imagenet | torchvision_resnet | torchvision_vgg
    (see advent.models.checkpoints.load_pretrained).
    """

    weights: str = ""
    layout: Literal["auto", "advent", "deeplab_imagenet", "torchvision_resnet", "torchvision_vgg"] = "auto"


@dataclass(frozen=True)
class PretrainParams:
    iterations: int = 1000


@dataclass(frozen=True)
class AdaptRunParams:
    """How one adaptation run starts and how long it is.

    start_from: ``init_weights`` starts from ``init.weights`` (random for the tiny
    benchmark) and trains jointly with the source loss, as the paper; ``source_only``
    fine-tunes the pre-trained source model (``models/source_only``).
    """

    start_from: Literal["init_weights", "source_only"] = "init_weights"
    iterations: int = 1000

    def validate(self, key: str) -> None:
        if self.iterations < 1:
            raise ConfigError(f"{key}.iterations must be >= 1, got {self.iterations}")


@dataclass(frozen=True)
class MinEntParams(AdaptRunParams):
    lambda_ent_main: float = 1e-3
    lambda_ent_aux: float = 2e-4
    entropy_range: tuple[float, float] | None = None
    lambda_cp: float = 0.0
    cp_mu: float = 0.5


@dataclass(frozen=True)
class AdvEntParams(AdaptRunParams):
    lambda_adv_main: float = 1e-3
    lambda_adv_aux: float = 2e-4
    d_width: int = 64
    d_layers: int = 5
    lambda_cp: float = 0.0
    cp_mu: float = 0.5


@dataclass(frozen=True)
class AdaptParams:
    """One section per adaptation method; each is its own DVC stage (adapt@<method>)."""

    minent: MinEntParams = field(default_factory=MinEntParams)
    advent: AdvEntParams = field(default_factory=AdvEntParams)


@dataclass(frozen=True)
class PseudoLabelParams:
    """Class-balanced pseudo-labels on target train (CBST-style), by one adapted model
    or the ensemble of several (``models``)."""

    models: tuple[Literal["minent", "advent"], ...] = ("minent", "advent")
    fraction: float = 0.5
    max_threshold: float = 0.9
    batch_size: int = 16

    def validate(self, key: str) -> None:
        if not self.models or len(set(self.models)) != len(self.models):
            raise ConfigError(f"{key}.models must name distinct adapted models, got {list(self.models)}")
        if not 0.0 < self.fraction <= 1.0:
            raise ConfigError(f"{key}.fraction must be in (0, 1], got {self.fraction}")
        if not 0.0 < self.max_threshold <= 1.0:
            raise ConfigError(f"{key}.max_threshold must be in (0, 1], got {self.max_threshold}")


@dataclass(frozen=True)
class SelfTrainParams:
    """start_from: the adapted model that self-training fine-tunes."""

    start_from: Literal["minent", "advent"] = "advent"
    iterations: int = 1000
    lambda_target: float = 1.0
    lambda_source: float = 1.0


@dataclass(frozen=True)
class OracleParams:
    iterations: int = 1000


@dataclass(frozen=True)
class EvaluateParams:
    """selection: last | best_val | best_test (see advent.selection)."""

    selection: Literal["last", "best_val", "best_test"] = "last"
    batch_size: int = 16
    qualitative_samples: int = 4
    source_samples: int = 200


@dataclass(frozen=True)
class Params:
    data: DataConfig
    model: ModelConfig
    init: InitParams
    train: TrainConfig
    pretrain: PretrainParams
    adapt: AdaptParams
    pseudo_label: PseudoLabelParams
    self_train: SelfTrainParams
    oracle: OracleParams
    evaluate: EvaluateParams


def load_params(path: str | os.PathLike = "params.yaml") -> Params:
    """Parse the whole file strictly: an unknown or mistyped key anywhere is an error
    naming it, so a typo never silently falls back to a default."""
    return from_dict(Params, load_yaml(path))
