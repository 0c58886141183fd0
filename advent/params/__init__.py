"""The schema of ``params.yaml``: one strict dataclass per section, in this package.

Stage scripts read the file through :func:`load_params`; every other module receives
these plain objects and never reads ``params.yaml`` itself. This package imports
nothing of the library but :mod:`advent.config`, so a stage that only needs the schema
does not depend on (or rerun for) the code behind other sections.

Ranges are checked here, at load time, with the dotted key in the message: a value
that is out of its meaningful range never reaches the code that would misuse it.

Modules: ``data`` (the datasets), ``model`` (model, init), ``training`` (train, pretrain,
oracle), ``methods`` (adapt, pseudo_label, self_train, rank, intrada, adabn, evaluate)
and ``_checks`` (the range checks they share). :class:`Params` (the whole file) and
:func:`load_params` live here, and every public name of the modules is importable from
here.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from advent.config import ConfigError, from_dict, load_yaml
from advent.params.data import (
    MAX_IMAGE_SIDE, MAX_SYNTHETIC_GAP, MIN_IMAGE_SIDE, CityscapesConfig, DataConfig, FolderConfig,
    FolderSourceConfig, FolderTargetConfig, RawDatasetConfig, SourceKind, SyntheticConfig,
    TargetKind,
)
from advent.params.methods import (
    AdaBNParams, AdaptParams, AdaptRunParams, AdvEntParams, EvaluateParams, IntraDAParams,
    MinEntParams, PseudoLabelParams, RankParams, SelfTrainParams,
)
from advent.params.model import MAX_MODEL_WIDTH, InitParams, ModelConfig
from advent.params.training import OracleParams, PretrainParams, TrainConfig


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
    rank: RankParams
    intrada: IntraDAParams
    oracle: OracleParams
    adabn: AdaBNParams
    evaluate: EvaluateParams

    def validate(self, key: str = "") -> None:
        """What no single section can check alone."""
        for layers_key, layers in (("adapt.advent.d_layers", self.adapt.advent.d_layers),
                                   ("intrada.d_layers", self.intrada.d_layers)):
            for where, (h, w) in self.data.image_sizes().items():
                if min(h, w) < 2 ** layers:
                    raise ConfigError(
                        f"{layers_key}: {layers} stride-2 layers shrink the {h}x{w} "
                        f"images of {where} to nothing (at most {min(h, w).bit_length() - 1})")
        if self.evaluate.selection != "last" and self.train.snapshot_every == 0:
            raise ConfigError(f"evaluate.selection is {self.evaluate.selection} but "
                              f"train.snapshot_every is 0: no snapshots to select from")


def load_params(path: str | os.PathLike = "params.yaml") -> Params:
    """Parse the whole file strictly: an unknown or mistyped key anywhere is an error
    naming it, so a typo never silently falls back to a default."""
    return from_dict(Params, load_yaml(path))


__all__ = [
    "MAX_SYNTHETIC_GAP", "MIN_IMAGE_SIDE", "MAX_IMAGE_SIDE", "SourceKind", "TargetKind",
    "SyntheticConfig", "RawDatasetConfig", "CityscapesConfig", "FolderSourceConfig",
    "FolderTargetConfig", "FolderConfig", "DataConfig",
    "MAX_MODEL_WIDTH", "ModelConfig", "InitParams",
    "TrainConfig", "PretrainParams", "OracleParams",
    "AdaptRunParams", "MinEntParams", "AdvEntParams", "AdaptParams", "PseudoLabelParams",
    "SelfTrainParams", "RankParams", "IntraDAParams", "AdaBNParams", "EvaluateParams",
    "Params", "load_params",
]
