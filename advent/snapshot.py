"""Trained-model files: the network's weights plus what is needed to rebuild it, and
the snapshots of intermediate iterations that model selection chooses from.

A model file is a plain dict (loadable with ``weights_only=True``)::

    {"format": "advent-model-v1", "model_config": {...ModelConfig...},
     "num_classes": C, "protocol": "cityscapes19", "state_dict": {...official layout...},
     "info": {...free-form provenance: method, iterations...}}
"""
from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Sequence

from advent.config import from_dict
from advent.data.prepared import PreparedDataset
from advent.io import UnreadableFileError, describe_object, load_torch_file, torch_save
from advent.models import ModelConfig, Segmenter, build_segmenter

FORMAT = "advent-model-v1"


def save_segmenter(path: str | os.PathLike, segmenter: Segmenter, cfg: ModelConfig,
                   protocol: str, info: dict | None = None) -> None:
    net = segmenter.net
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    torch_save({"format": FORMAT, "model_config": dataclasses.asdict(cfg),
                "num_classes": int(net_num_classes(segmenter)), "protocol": protocol,
                "state_dict": state, "info": dict(info or {})}, path)


def net_num_classes(segmenter: Segmenter) -> int:
    return segmenter.net.heads()[-1].conv2d_list[0].out_channels


def read_model_file(path: str | os.PathLike) -> dict:
    """The dict of a model file written by :func:`save_segmenter`, read safely; anything
    else raises an error naming the file and saying what it is."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path} (run the stage that trains it first)")
    data = load_torch_file(path, f"{FORMAT} model file")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        kind = ("a training resume checkpoint (the model file is model.pt beside it)"
                if isinstance(data, dict) and "fingerprint" in data else describe_object(data))
        raise UnreadableFileError(f"{path}: not an {FORMAT} model file: a PyTorch file "
                                  f"holding {kind}")
    missing = [k for k in ("model_config", "num_classes", "protocol", "state_dict") if k not in data]
    if missing:
        raise UnreadableFileError(f"{path}: {FORMAT} model file without {missing}")
    return data


def load_segmenter(path: str | os.PathLike, protocol: str | None = None,
                   data_root: str | os.PathLike = "the data") -> tuple[Segmenter, dict]:
    """Rebuild the segmenter saved at ``path``; returns (segmenter in eval mode, file dict).

    ``protocol``: the label space of ``data_root``, what the model will run on; a model
    trained in another one is refused (its class ids would name other classes).
    """
    data = read_model_file(path)
    if protocol is not None and data["protocol"] != protocol:
        raise ValueError(f"{path} was trained on protocol {data['protocol']} but "
                         f"{data_root} is labelled in {protocol}")
    cfg = from_dict(ModelConfig, data["model_config"], f"{path}:model_config")
    segmenter = build_segmenter(cfg, data["num_classes"])
    segmenter.net.load_state_dict(data["state_dict"], strict=True)
    return segmenter.eval(), data


def load_for_inference(paths: Sequence[str | os.PathLike], data: PreparedDataset
                       ) -> list[tuple[Segmenter, dict]]:
    """The model files at ``paths`` (segmenter in eval mode, file dict), to run on
    ``data``: every place that predicts (evaluation, pseudo-labels) loads through here,
    so a model trained in another label space is refused, naming it and ``data``."""
    return [load_segmenter(p, data.protocol.name, data.root) for p in paths]


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

    def __init__(self, directory: str | os.PathLike, cfg: ModelConfig, protocol: str,
                 info: dict | None = None) -> None:
        self.directory = Path(directory)
        self.cfg, self.protocol, self.info = cfg, protocol, dict(info or {})

    def begin(self, start: int) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)  # a DVC output, even when empty
        for iteration, path in list_snapshots(self.directory):
            if iteration > start:
                path.unlink()

    def save(self, step: int, segmenter: Segmenter) -> None:
        save_segmenter(self.directory / f"iter_{step:06d}.pt", segmenter, self.cfg, self.protocol,
                       info={**self.info, "iteration": step})
