"""The sections of the adaptation methods and the stages after them: ``adapt``,
``pseudo_label``, ``self_train``, ``rank``, ``intrada``, ``adabn`` and ``evaluate``."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from advent.config import ConfigError
from advent.params._checks import _at_least, _distinct_models, _in_unit_interval


@dataclass(frozen=True)
class AdaptRunParams:
    """How one adaptation run starts and how long it is.

    start_from: ``init`` trains from ``init.weights`` (random for the tiny benchmark)
    jointly with the source loss, as the paper; ``source_only`` fine-tunes the trained
    source-only model (``models/source_only``).
    """

    start_from: Literal["init", "source_only"] = "init"
    iterations: int = 1000

    def validate(self, key: str) -> None:
        _at_least(key, self, 1, "iterations")


@dataclass(frozen=True)
class MinEntParams(AdaptRunParams):
    lambda_ent_main: float = 1e-3
    lambda_ent_aux: float = 2e-4
    entropy_range: tuple[float, float] | None = None
    lambda_cp: float = 0.0
    cp_mu: float = 0.5

    def validate(self, key: str) -> None:
        super().validate(key)
        _at_least(key, self, 0, "lambda_ent_main", "lambda_ent_aux", "lambda_cp")
        _in_unit_interval(key, self, "cp_mu")
        if self.entropy_range is not None:
            lo, hi = self.entropy_range
            if not 0.0 <= lo < hi <= 1.0:
                raise ConfigError(f"{key}.entropy_range must satisfy 0 <= lo < hi <= 1, "
                                  f"got {list(self.entropy_range)}")


@dataclass(frozen=True)
class AdvEntParams(AdaptRunParams):
    lambda_adv_main: float = 1e-3
    lambda_adv_aux: float = 2e-4
    d_width: int = 64
    d_layers: int = 5
    lambda_cp: float = 0.0
    cp_mu: float = 0.5

    def validate(self, key: str) -> None:
        super().validate(key)
        _at_least(key, self, 0, "lambda_adv_main", "lambda_adv_aux", "lambda_cp")
        _in_unit_interval(key, self, "cp_mu")
        _at_least(key, self, 1, "d_width")
        _at_least(key, self, 2, "d_layers")  # a first and a last 4x4 stride-2 conv


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
        _distinct_models(key, self.models)
        _in_unit_interval(key, self, "fraction", "max_threshold")
        _at_least(key, self, 1, "batch_size")


@dataclass(frozen=True)
class SelfTrainParams:
    """start_from: the adapted model (under models/) that self-training fine-tunes."""

    start_from: Literal["minent", "advent"] = "advent"
    iterations: int = 1000
    lambda_target: float = 1.0
    lambda_source: float = 1.0

    def validate(self, key: str) -> None:
        _at_least(key, self, 1, "iterations")
        _at_least(key, self, 0, "lambda_target", "lambda_source")
        if self.lambda_target == 0 and self.lambda_source == 0:
            raise ConfigError(f"{key}: lambda_target and lambda_source are both 0: nothing to train")


@dataclass(frozen=True)
class RankParams:
    """Entropy ranking of target train (IntraDA's first step, advent.ranking).

    models: the scoring (and labelling) model: one adapted model or the mean of several.
    easy_fraction: the lowest-entropy share of the images that forms the easy split
      (IntraDA's lambda); the rest is the hard split. Both must stay non-empty.
    rare_class_normaliser: scale each image's score by IntraDA's rare-class factor (fewer
      rare classes predicted = higher score); needs a protocol with Cityscapes class names.
    labels: pseudo-labels of the easy split: ``argmax`` (IntraDA: every pixel) or
      ``class_balanced`` (advent.pseudo's selection with ``fraction`` and
      ``max_threshold``, thresholds from the easy images).
    """

    models: tuple[Literal["minent", "advent"], ...] = ("advent",)
    easy_fraction: float = 0.67
    rare_class_normaliser: bool = False
    labels: Literal["argmax", "class_balanced"] = "argmax"
    fraction: float = 0.5
    max_threshold: float = 0.9
    batch_size: int = 16

    def validate(self, key: str) -> None:
        _distinct_models(key, self.models)
        if not 0.0 < self.easy_fraction < 1.0:
            raise ConfigError(f"{key}.easy_fraction must be in (0, 1): both the easy and the hard "
                              f"split need images, got {self.easy_fraction}")
        _in_unit_interval(key, self, "fraction", "max_threshold")
        _at_least(key, self, 1, "batch_size")


@dataclass(frozen=True)
class IntraDAParams(AdvEntParams):
    """Intra-domain adaptation: the AdvEnt objective from the easy split (labelled by its
    pseudo-labels, the "source") to the hard split (the "target").

    start_from: ``init`` trains from ``init.weights`` (IntraDA: the ImageNet init);
    ``advent`` fine-tunes the adapted AdvEnt model (models/advent).
    with_source: the labelled source train split joins the easy split as the labelled
    side (not in IntraDA, which trains on the easy split's pseudo-labels alone).
    """

    start_from: Literal["init", "advent"] = "init"  # type: ignore[assignment]
    with_source: bool = False


@dataclass(frozen=True)
class AdaBNParams:
    """The adabn stage: source-only with BN statistics re-estimated on target train.

    batch_size: target-train images per forward pass; the statistics are the mean over
    these batches, so the size changes the variances (it is a model parameter here, not
    only a speed one).
    """

    batch_size: int = 16

    def validate(self, key: str) -> None:
        _at_least(key, self, 1, "batch_size")


@dataclass(frozen=True)
class EvaluateParams:
    """selection: last | best_val | best_test (see advent.selection)."""

    selection: Literal["last", "best_val", "best_test"] = "last"
    batch_size: int = 16
    qualitative_samples: int = 4
    source_samples: int = 200

    def validate(self, key: str) -> None:
        # the report always draws the qualitative grid: at least one image
        _at_least(key, self, 1, "batch_size", "source_samples", "qualitative_samples")

