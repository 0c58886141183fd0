"""Trained-model files: the network's weights plus what is needed to rebuild it.

A model file is a plain dict (loadable with ``weights_only=True``)::

    {"format": "advent-model-v1", "model_config": {...ModelConfig...},
     "num_classes": C, "protocol": "cityscapes19", "state_dict": {...official layout...},
     "info": {...free-form provenance: method, iterations...}}
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch

from advent.config import from_dict
from advent.io import torch_save
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
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path} (run the stage that trains it first)")
    data = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: not an {FORMAT} model file")
    return data


def load_segmenter(path: str | os.PathLike) -> tuple[Segmenter, dict]:
    """Rebuild the segmenter saved at ``path``; returns (segmenter in eval mode, file dict)."""
    data = read_model_file(path)
    cfg = from_dict(ModelConfig, data["model_config"], f"{path}:model_config")
    segmenter = build_segmenter(cfg, data["num_classes"])
    segmenter.net.load_state_dict(data["state_dict"], strict=True)
    return segmenter.eval(), data
