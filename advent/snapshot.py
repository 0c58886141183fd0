"""Trained-model files: the network's weights plus what is needed to rebuild it, and
the snapshots of intermediate iterations that model selection chooses from.

A model file is a plain dict (loadable with ``weights_only=True``) that says what
inference needs (``advent-predict`` applies it to new images with nothing else)::

    {"format": "advent-model-v1", "model_config": {...ModelConfig...},
     "num_classes": C, "protocol": "cityscapes19",
     "classes": [{"name": "road", "color": [128, 64, 128]}, ...],   # train-id order
     "input_size": [H, W],             # the images it was trained on (see below)
     "preprocessing": "imagenet_rgb",  # done inside the network: it takes uint8 RGB
     "state_dict": {...official layout...},
     "info": {...free-form provenance: method, iterations...}}

``input_size`` is the size of the unlabelled (target) images of the run when it had
some, else of its labelled ones: the size new images are resized to.

A stage that cannot train (the oracle without target labels) writes a *skipped* record
in place of its model file, ``{"format": "advent-skipped-v1", "skipped": reason}``, so
that DVC finds its outputs and the stages after it can say why there is no model.
"""
from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Sequence

from advent.config import from_dict
from advent.data.labels import Protocol, as_protocol, class_list, protocol_from_record, same_classes
from advent.data.prepared import PreparedDataset
from advent.io import UnreadableFileError, describe_object, load_torch_file, torch_save
from advent.models import ModelConfig, Segmenter, build_segmenter

FORMAT = "advent-model-v1"
SKIPPED_FORMAT = "advent-skipped-v1"


def save_segmenter(path: str | os.PathLike, segmenter: Segmenter, cfg: ModelConfig,
                   protocol: str | Protocol, info: dict | None = None,
                   input_size: tuple[int, int] | None = None) -> None:
    """Write the model file (see the module docstring); ``protocol`` a built-in name or a
    :class:`Protocol`, ``input_size`` (H, W) the images new ones are resized to."""
    net = segmenter.net
    protocol = as_protocol(protocol)
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    torch_save({"format": FORMAT, "model_config": dataclasses.asdict(cfg),
                "num_classes": int(net_num_classes(segmenter)), "protocol": protocol.name,
                "classes": class_list(protocol),
                "input_size": [int(v) for v in input_size] if input_size else None,
                "preprocessing": cfg.preprocessing,
                "state_dict": state, "info": dict(info or {})}, path)


def save_skipped(path: str | os.PathLike, reason: str) -> None:
    """Write a skipped record at ``path`` in place of a model (see the module docstring)."""
    torch_save({"format": SKIPPED_FORMAT, "skipped": reason}, path)


def skipped_reason(model_file: dict) -> str | None:
    """Why the file read by ``read_model_file(..., allow_skipped=True)`` holds no model;
    None for a model file."""
    return model_file["skipped"] if model_file.get("format") == SKIPPED_FORMAT else None


def net_num_classes(segmenter: Segmenter) -> int:
    return segmenter.net.heads()[-1].conv2d_list[0].out_channels


def read_model_file(path: str | os.PathLike, allow_skipped: bool = False) -> dict:
    """The dict of a model file written by :func:`save_segmenter` (or, with
    ``allow_skipped``, a skipped record), read safely; anything else raises an error
    naming the file and saying what it is."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path} (run the stage that trains it first)")
    data = load_torch_file(path, f"{FORMAT} model file")
    if isinstance(data, dict) and data.get("format") == SKIPPED_FORMAT:
        if allow_skipped:
            return data
        raise UnreadableFileError(f"{path} holds no model: its stage was skipped "
                                  f"({data.get('skipped')})")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        kind = ("a training resume checkpoint (the model file is model.pt beside it)"
                if isinstance(data, dict) and "fingerprint" in data else describe_object(data))
        raise UnreadableFileError(f"{path}: not an {FORMAT} model file: a PyTorch file "
                                  f"holding {kind}")
    missing = [k for k in ("model_config", "num_classes", "protocol", "state_dict") if k not in data]
    if missing:
        raise UnreadableFileError(f"{path}: {FORMAT} model file without {missing}")
    return data


def load_segmenter(path: str | os.PathLike, protocol: Protocol | None = None,
                   data_root: str | os.PathLike = "the data") -> tuple[Segmenter, dict]:
    """Rebuild the segmenter saved at ``path``; returns (segmenter in eval mode, file dict).

    ``protocol``: the label space of ``data_root``, what the model will run on; a model
    trained in another one is refused (its class ids would name other classes).
    """
    data = read_model_file(path)
    trained = protocol_from_record(data, str(path))
    if protocol is not None and not same_classes(trained, protocol):
        raise ValueError(f"{path} was trained on protocol {trained.name} but "
                         f"{data_root} is labelled in {protocol.name}")
    cfg = from_dict(ModelConfig, data["model_config"], f"{path}:model_config")
    segmenter = build_segmenter(cfg, data["num_classes"])
    segmenter.net.load_state_dict(data["state_dict"], strict=True)
    return segmenter.eval(), data


def load_for_inference(paths: Sequence[str | os.PathLike], data: PreparedDataset
                       ) -> list[tuple[Segmenter, dict]]:
    """The model files at ``paths`` (segmenter in eval mode, file dict), to run on
    ``data``: every place that predicts (evaluation, pseudo-labels) loads through here,
    so a model trained in another label space is refused, naming it and ``data``."""
    return [load_segmenter(p, data.protocol, data.root) for p in paths]


# ----------------------------------------------------------------------------- snapshots

_SNAPSHOT_NAME = re.compile(r"^iter_(\d+)\.pt$")


def snapshot_dir(model_path: str | os.PathLike) -> Path:
    """Where the snapshots of the run that wrote ``model_path`` live: ``<dir>/snapshots``."""
    return Path(model_path).parent / "snapshots"


def list_snapshots(directory: str | os.PathLike) -> list[tuple[int, Path]]:
    """(iteration, path) of every ``iter_<N>.pt`` in ``directory``, by iteration."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir()
             if (m := _SNAPSHOT_NAME.match(p.name))]
    return sorted(found)


class SnapshotWriter:
    """Writes ``directory/iter_<N>.pt`` model files during training (see
    :class:`advent.train.SnapshotSink`).

    ``begin(start)`` deletes the snapshots after ``start``: on a fresh run (start 0)
    every file of an earlier run goes, on a resumed run only those that the
    interrupted run wrote after its last checkpoint (they are written again).
    """

    def __init__(self, directory: str | os.PathLike, cfg: ModelConfig, protocol: str | Protocol,
                 info: dict | None = None, input_size: tuple[int, int] | None = None) -> None:
        self.directory = Path(directory)
        self.cfg, self.protocol, self.info = cfg, protocol, dict(info or {})
        self.input_size = input_size

    def begin(self, start: int) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)  # a DVC output, even when empty
        for iteration, path in list_snapshots(self.directory):
            if iteration > start:
                path.unlink()

    def save(self, step: int, segmenter: Segmenter) -> None:
        save_segmenter(self.directory / f"iter_{step:06d}.pt", segmenter, self.cfg, self.protocol,
                       info={**self.info, "iteration": step}, input_size=self.input_size)
