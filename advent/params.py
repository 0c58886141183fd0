"""The schema of ``params.yaml``: one strict dataclass per section, all in this module.

Stage scripts read the file through :func:`load_params`; every other module receives
these plain objects and never reads ``params.yaml`` itself. This module imports
nothing of the library but :mod:`advent.config`, so a stage that only needs the schema
does not depend on (or rerun for) the code behind other sections.

Ranges are checked here, at load time, with the dotted key in the message: a value
that is out of its meaningful range never reaches the code that would misuse it.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Literal

from advent.config import ConfigError, from_dict, load_yaml

#: The largest domain gap of the procedural benchmark (2 = twice the default distance).
MAX_SYNTHETIC_GAP = 2.0
#: Image sides (pixels) a prepared dataset may have: 8 keeps the network's 1/8 output
#: non-empty; 8192 is four times a Cityscapes image's width.
MIN_IMAGE_SIDE, MAX_IMAGE_SIDE = 8, 8192
#: Stem channels of the tiny ResNet (``model.width``).
MAX_MODEL_WIDTH = 1024
#: Dataset kinds a domain can be prepared from (see advent.data.domains).
SourceKind = Literal["synthetic", "gta5", "synthia", "folder"]
TargetKind = Literal["synthetic", "cityscapes", "folder"]


def _at_least(key: str, obj: object, minimum: int | float, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if value < minimum:
            raise ConfigError(f"{key}.{name} must be >= {minimum}, got {value}")


def _in_range(key: str, obj: object, low: int | float, high: int | float, *names: str) -> None:
    """Each value in [low, high]."""
    for name in names:
        value = getattr(obj, name)
        if not low <= value <= high:
            raise ConfigError(f"{key}.{name} must be in [{low}, {high}], got {value}")


def _positive(key: str, obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not value > 0:
            raise ConfigError(f"{key}.{name} must be positive, got {value}")


def _distinct_models(key: str, models: tuple[str, ...]) -> None:
    """A list of adapted models (one, or the members of an ensemble): non-empty, no repeats."""
    if not models or len(set(models)) != len(models):
        raise ConfigError(f"{key}.models must name distinct adapted models, got {list(models)}")


def _in_unit_interval(key: str, obj: object, *names: str, closed_low: bool = False) -> None:
    """Each value in (0, 1] (or [0, 1] with ``closed_low``)."""
    for name in names:
        value = getattr(obj, name)
        ok = (0.0 <= value <= 1.0) if closed_low else (0.0 < value <= 1.0)
        if not ok:
            interval = "[0, 1]" if closed_low else "(0, 1]"
            raise ConfigError(f"{key}.{name} must be in {interval}, got {value}")


# ----------------------------------------------------------------------------- data

@dataclass(frozen=True)
class SyntheticConfig:
    """Size and difficulty of the procedural benchmark (advent.data.synthetic).

    gap: the one difficulty knob (0 = target looks and is laid out like source, 1 = the
    default benchmark, up to 2 extrapolates). Counts are images per split: source
    ``train``, target ``train`` (unlabelled for adaptation), ``val`` and ``test``.
    """

    seed: int
    height: int
    width: int
    gap: float
    source_train: int
    target_train: int
    target_val: int
    target_test: int

    def validate(self, key: str = "synthetic") -> None:
        _at_least(key, self, 0, "seed")
        _in_range(key, self, MIN_IMAGE_SIDE, MAX_IMAGE_SIDE, "height", "width")
        if not 0.0 <= self.gap <= MAX_SYNTHETIC_GAP:
            raise ConfigError(f"{key}.gap must be in [0, {MAX_SYNTHETIC_GAP}], got {self.gap}")
        for name in ("source_train", "target_train", "target_val", "target_test"):
            n = getattr(self, name)
            if not 0 < n < 1_000_000:
                raise ConfigError(f"{key}.{name} must be in [1, 999999], got {n}")

    def splits(self, domain: str) -> dict[str, int]:
        """Split name -> image count for ``domain`` (source or target)."""
        if domain == "source":
            return {"train": self.source_train}
        if domain == "target":
            return {"train": self.target_train, "val": self.target_val, "test": self.target_test}
        raise ValueError(f"domain must be 'source' or 'target', got {domain!r}")


@dataclass(frozen=True)
class RawDatasetConfig:
    """Where a real dataset lives and the size it is prepared at.

    raw_root: folder holding the raw layout (or one level above it).
    download: fetch the public archives into raw_root when the layout is not there.
    image_size: (H, W) of prepared images and labels.
    on_size_mismatch: image and label of different sizes: error | skip | resize.
    """

    raw_root: str
    image_size: tuple[int, int]
    download: bool = False
    on_size_mismatch: Literal["error", "skip", "resize"] = "error"

    def validate(self, key: str) -> None:
        if not self.raw_root.strip():
            raise ConfigError(f"{key}.raw_root is empty: name the folder holding the raw data")
        if not all(MIN_IMAGE_SIDE <= side <= MAX_IMAGE_SIDE for side in self.image_size):
            raise ConfigError(f"{key}.image_size: each side must be in [{MIN_IMAGE_SIDE}, "
                              f"{MAX_IMAGE_SIDE}], got {list(self.image_size)}")


@dataclass(frozen=True)
class CityscapesConfig(RawDatasetConfig):
    """The target dataset: its splits and the resolution it is scored at.

    val_count, seed: official-train images held out as split "val", drawn with this seed.
    test_label_size: (H, W) of the ``test`` split's labels (official val), or null for
      image_size like every other split. The paper scores against full-resolution
      labels, [1024, 2048] (the official TEST.OUTPUT_SIZE_TARGET); the test images stay
      at image_size and evaluation upsamples the logits to the label size.
    """

    val_count: int = 200
    seed: int = 1234
    test_label_size: tuple[int, int] | None = None

    def validate(self, key: str) -> None:
        super().validate(key)
        _at_least(key, self, 0, "val_count", "seed")
        if self.test_label_size is not None and not all(
                MIN_IMAGE_SIDE <= side <= MAX_IMAGE_SIDE for side in self.test_label_size):
            raise ConfigError(f"{key}.test_label_size: each side must be in [{MIN_IMAGE_SIDE}, "
                              f"{MAX_IMAGE_SIDE}] (or null), got {list(self.test_label_size)}")


@dataclass(frozen=True)
class FolderSourceConfig:
    """Your own labelled source (the folder kind, advent.data.folder).

    root: holds images/ (PNG or JPEG) and labels/ (PNG), paired by file stem.
    class_map: the YAML file naming the classes and how the labels encode them
      (advent.data.classmap), or a built-in protocol (``protocol: cityscapes19``).
    image_size: (H, W) of prepared images and labels.
    on_size_mismatch: image and label of different sizes: error | skip | resize.
    """

    root: str = "data/own/source"
    class_map: str = "data/own/classes.yaml"
    image_size: tuple[int, int] = (512, 1024)
    on_size_mismatch: Literal["error", "skip", "resize"] = "error"

    def validate(self, key: str) -> None:
        if not self.root.strip():
            raise ConfigError(f"{key}.root is empty: name the folder that holds images/")
        if not all(MIN_IMAGE_SIDE <= side <= MAX_IMAGE_SIDE for side in self.image_size):
            raise ConfigError(f"{key}.image_size: each side must be in [{MIN_IMAGE_SIDE}, "
                              f"{MAX_IMAGE_SIDE}], got {list(self.image_size)}")


@dataclass(frozen=True)
class FolderTargetConfig(FolderSourceConfig):
    """Your own target (the folder kind).

    root: holds images/ (train: unlabelled for adaptation), optionally labels/ beside
      them (only the oracle trains on those), val/{images,labels}/ and
      test/{images,labels}/ (labelled splits). Without any labels the pipeline runs and
      says "no target labels" where a number would need them.
    class_map: how the target's labels encode the classes; "" = the source's class map
      (a folder source), and none is needed without target labels.
    val_count, seed: without val/, hold out val_count test/ images as val, drawn with seed.
    """

    root: str = "data/own/target"
    class_map: str = ""
    val_count: int = 0
    seed: int = 1234

    def validate(self, key: str) -> None:
        super().validate(key)
        _at_least(key, self, 0, "val_count", "seed")


@dataclass(frozen=True)
class FolderConfig:
    """The folder kind: your own data in plain folders (README "Your own data")."""

    source: FolderSourceConfig = field(default_factory=FolderSourceConfig)
    target: FolderTargetConfig = field(default_factory=FolderTargetConfig)


@dataclass(frozen=True)
class DataConfig:
    """Which datasets the pipeline prepares (source: labelled; target: unlabelled)."""

    source: SourceKind
    target: TargetKind
    synthetic: SyntheticConfig
    gta5: RawDatasetConfig = field(default_factory=lambda: RawDatasetConfig("data/raw/gta5", (720, 1280)))
    synthia: RawDatasetConfig = field(default_factory=lambda: RawDatasetConfig("data/raw/synthia", (760, 1280)))
    cityscapes: CityscapesConfig = field(default_factory=lambda: CityscapesConfig("data/raw/cityscapes", (512, 1024)))
    folder: FolderConfig = field(default_factory=FolderConfig)

    def validate(self, key: str) -> None:
        if (self.source == "synthetic") != (self.target == "synthetic"):
            raise ConfigError(f"{key}: the synthetic benchmark is a pair: source and target must "
                              f"both be synthetic or both real (got {self.source} -> {self.target})")
        if self.source == "folder" and not self.folder.source.class_map.strip():
            raise ConfigError(f"{key}.folder.source.class_map is empty: a folder source needs the "
                              f"class map its labels are decoded through")

    @property
    def protocol(self) -> str | None:
        """The label space of a built-in pair: SYNTHIA -> Cityscapes is scored on 16
        classes. None for a folder source, whose class map names it (see
        advent.data.inputs.pair_protocol)."""
        if self.source == "folder":
            return None
        return "synthia16" if self.source == "synthia" else "cityscapes19"

    def image_sizes(self) -> dict[str, tuple[int, int]]:
        """Parameter key -> (H, W) of the prepared source and target images."""
        if self.source == "synthetic":
            return {"data.synthetic": (self.synthetic.height, self.synthetic.width)}
        sizes = {}
        for domain, name in (("source", self.source), ("target", self.target)):
            if name == "folder":
                sizes[f"data.folder.{domain}.image_size"] = getattr(self.folder, domain).image_size
            else:
                sizes[f"data.{name}.image_size"] = getattr(self, name).image_size
        return sizes


# ----------------------------------------------------------------------------- model

@dataclass(frozen=True)
class ModelConfig:
    """Which segmenter to build (advent.models.build_segmenter).

    arch: ``deeplabv2_resnet101`` (paper), ``deeplabv2_vgg16`` (paper's VGG-16 variant,
      single level only) or ``deeplabv2_resnet_tiny`` (CPU benchmark: one bottleneck per
      stage, ``width`` channels in the stem).
    multi_level: add the auxiliary ASPP head on layer3 (ResNet only; must be False for VGG).
    preprocessing: ``imagenet_rgb`` (x/255, ImageNet mean/std) or ``caffe_bgr``
      (RGB->BGR, subtract the Caffe mean, no scaling: the official code's).
    """

    arch: Literal["deeplabv2_resnet101", "deeplabv2_resnet_tiny", "deeplabv2_vgg16"] = "deeplabv2_resnet_tiny"
    multi_level: bool = True
    width: int = 16
    preprocessing: Literal["imagenet_rgb", "caffe_bgr"] = "imagenet_rgb"
    freeze_bn_affine: bool = False

    def validate(self, key: str) -> None:
        _in_range(key, self, 1, MAX_MODEL_WIDTH, "width")
        if self.arch == "deeplabv2_vgg16" and self.multi_level:
            raise ConfigError(f"{key}.multi_level must be false for deeplabv2_vgg16 (single-level network)")


@dataclass(frozen=True)
class InitParams:
    """Pretrained weights every training from scratch starts from ("" = random init).

    layout: auto | advent | deeplab_imagenet | torchvision_resnet | torchvision_vgg
    (see advent.models.checkpoints.load_pretrained).
    """

    weights: str = ""
    layout: Literal["auto", "advent", "deeplab_imagenet", "torchvision_resnet", "torchvision_vgg"] = "auto"


# ----------------------------------------------------------------------------- training

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
    """

    start_from: Literal["init", "advent"] = "init"  # type: ignore[assignment]


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
