"""What each domain of the pipeline is prepared from, read from the ``data`` parameters:
the raw root, the folder kind's class maps, the pair's protocol (class space), and a
cheap fingerprint of the input files.

The fingerprint is the DVC dependency of the prepare stage (written by the
``fingerprint`` stage, which runs on every ``dvc repro``): an edit to a raw folder or a
class map changes it and reruns ``prepare``, without DVC hashing gigabytes of images or
depending on paths that the parameters may point anywhere. It covers every image and
label file (path, size, mtime) and each class map's bytes.

Listing and stat-ing the files is all it costs: no image is decoded.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from advent.data.classmap import ClassMap, load_class_map
from advent.data.labels import Protocol, get_protocol
from advent.data.layouts import RawSample, file_listing
from advent.data.registry import get_kind
from advent.io import digest_of
from advent.params import DataConfig, FolderSourceConfig, RawDatasetConfig

Domain = Literal["source", "target"]


def kind_of(cfg: DataConfig, domain: Domain) -> str:
    """The dataset kind of ``domain`` (``synthetic``, a registry kind, or ``folder``)."""
    if domain not in ("source", "target"):
        raise ValueError(f"domain must be 'source' or 'target', got {domain!r}")
    return cfg.source if domain == "source" else cfg.target


def folder_config(cfg: DataConfig, domain: Domain) -> FolderSourceConfig:
    """``data.folder.<domain>`` (a FolderTargetConfig for the target)."""
    return cfg.folder.source if domain == "source" else cfg.folder.target


def raw_root(cfg: DataConfig, domain: Domain) -> Path | None:
    """The raw root of a real domain: the folder kind's ``root``, or a registry kind's
    layout found at or below ``raw_root``; None when it is still to be downloaded
    (``download: true``). FileNotFoundError naming the key when it is not there."""
    name = kind_of(cfg, domain)
    kind = get_kind(name)
    if name == "folder":
        folder = folder_config(cfg, domain)
        root = Path(folder.root)
        if not root.is_dir():
            raise FileNotFoundError(f"data.folder.{domain}.root: no folder {root}; expected "
                                    f"{kind.layout}")
        if domain == "source" and not (root / "labels").is_dir():
            raise FileNotFoundError(f"data.folder.source.root: {root} has no labels/ folder: "
                                    f"the source needs a label for every image in images/")
        return root
    raw: RawDatasetConfig = getattr(cfg, name)
    root = Path(raw.raw_root)
    if raw.download:
        return kind.find_root(root) if root.is_dir() and _has_layout(kind, root) else None
    if not root.is_dir():
        fix = f", or set data.{name}.download: true" if kind.source is not None else ""
        raise FileNotFoundError(
            f"data.{name}.raw_root: no {name} data at {root}; expected {kind.layout}. "
            f"Put the dataset there (or point raw_root at it){fix}")
    return kind.find_root(root)


def _has_layout(kind, root: Path) -> bool:
    try:
        kind.find_root(root)
    except ValueError:
        return False
    return True


def _target_has_labels(root: Path) -> bool:
    return any((root / sub).exists() for sub in ("labels", "val", "test"))


def class_maps(cfg: DataConfig) -> dict[str, ClassMap | None]:
    """Domain -> the class map its labels are decoded through (folder domains; None
    otherwise, and for a folder target without labels and without a map of its own).

    A folder target takes the source's map unless it names its own; its classes must be
    the pair's. Errors name the parameter key.
    """
    maps: dict[str, ClassMap | None] = {"source": None, "target": None}
    if cfg.source == "folder":
        maps["source"] = load_class_map(cfg.folder.source.class_map)
    if cfg.target == "folder":
        own = cfg.folder.target.class_map.strip()
        if own:
            maps["target"] = load_class_map(own)
        elif maps["source"] is not None:
            maps["target"] = maps["source"]
        elif _target_has_labels(Path(cfg.folder.target.root)):
            raise ValueError(
                f"data.folder.target.class_map is empty but {cfg.folder.target.root} has labels: "
                f"name the class map they are decoded through (`protocol: "
                f"{cfg.protocol}` with their values, for the classes of {cfg.source})")
    protocol = _builtin_or(maps["source"], cfg)
    target_map = maps["target"]
    if target_map is not None and target_map.protocol.class_names != protocol.class_names:
        source_key = ("data.folder.source.class_map" if cfg.source == "folder"
                      else f"the {cfg.source} source")
        raise ValueError(
            f"class spaces do not match: data.folder.target.class_map ({target_map.path}) lists "
            f"{list(target_map.protocol.class_names)}, {source_key} "
            f"{list(protocol.class_names)}: the target's classes must be the source's, in "
            f"the same order")
    if cfg.target == "cityscapes" and protocol.name not in get_kind("cityscapes").protocols:
        raise ValueError(
            f"data.target: cityscapes is prepared in {' or '.join(get_kind('cityscapes').protocols)}, "
            f"but the source's class map ({cfg.folder.source.class_map}) defines {protocol.name}: "
            f"name `protocol: cityscapes19` in it, or use your own target folder")
    return maps


def _builtin_or(source_map: ClassMap | None, cfg: DataConfig) -> Protocol:
    return source_map.protocol if source_map is not None else get_protocol(cfg.protocol)


def pair_protocol(cfg: DataConfig) -> Protocol:
    """The class space both domains are prepared in: the source's (a folder source's
    class map, else SYNTHIA's 16 classes or the Cityscapes 19)."""
    return _builtin_or(load_class_map(cfg.folder.source.class_map) if cfg.source == "folder"
                       else None, cfg)


def list_domain(cfg: DataConfig, domain: Domain, root: Path) -> list[RawSample]:
    """The raw samples ``prepare`` reads for ``domain`` from ``root``."""
    name = kind_of(cfg, domain)
    kind = get_kind(name)
    if name == "folder":
        folder = folder_config(cfg, domain)
        splits = ("train",) if domain == "source" else kind.splits
        query = kind.query(splits, getattr(folder, "val_count", 0), getattr(folder, "seed", 1234))
    elif name == "cityscapes":
        query = kind.query(None, cfg.cityscapes.val_count, cfg.cityscapes.seed)
    else:
        query = kind.query()
    return kind.list_samples(root, query)


def input_fingerprint(cfg: DataConfig, domain: Domain) -> dict[str, Any]:
    """What ``domain`` is prepared from, digested: ``{"kind", "samples", "fingerprint"}``
    over every input file's path, size and mtime and the class maps' bytes. The
    procedural benchmark reads no file: its record is its kind alone (its parameters are
    DVC's to track). A domain still to be downloaded says so (``"samples": null``)."""
    name = kind_of(cfg, domain)
    if name == "synthetic":
        return {"kind": name}
    root = raw_root(cfg, domain)
    if root is None:
        return {"kind": name, "samples": None,
                "fingerprint": "not downloaded yet: the prepare stage downloads it"}
    samples = list_domain(cfg, domain, root)
    maps = class_maps(cfg) if name == "folder" else {}
    digest = digest_of(kind=name, files=file_listing(samples, root),
                       class_map=maps[domain].digest if maps.get(domain) else None)
    return {"kind": name, "samples": len(samples), "fingerprint": digest}
