"""The ``data`` section: which datasets the pipeline prepares, and at what size."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from advent.config import ConfigError
from advent.params._checks import _at_least, _in_range

#: The largest domain gap of the procedural benchmark (2 = twice the default distance).
MAX_SYNTHETIC_GAP = 2.0
#: Image sides (pixels) a prepared dataset may have: 8 keeps the network's 1/8 output
#: non-empty; 8192 is four times a Cityscapes image's width.
MIN_IMAGE_SIDE, MAX_IMAGE_SIDE = 8, 8192
#: Dataset kinds a domain can be prepared from (see advent.data.domains).
SourceKind = Literal["synthetic", "gta5", "synthia", "folder"]
TargetKind = Literal["synthetic", "cityscapes", "folder"]


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
