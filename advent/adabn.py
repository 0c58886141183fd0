"""AdaBN (Li et al., 2016): a trained model with its BatchNorm statistics re-estimated
on target images, its weights untouched.

In the pipeline it is a reference row beside source-only, not an entropy method: BN runs
in train mode while the adapted models train (as in the official code), so their running
statistics come partly from target batches (MinEnt and AdvEnt alternate source and target
batches; self-training and IntraDA see target images alone). Part of each method's gain
over source-only is therefore BN statistics alone; AdaBN's own gain measures that part.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from advent.config import from_dict
from advent.data.labels import protocol_from_record
from advent.data.prepared import PreparedDataset
from advent.io import atomic_path
from advent.models import ModelConfig
from advent.predict import has_batchnorm, reestimate_bn_statistics
from advent.runtime import float_setting
from advent.snapshot import list_snapshots, load_for_inference, save_segmenter, save_skipped, snapshot_dir


def adabn_file(src: str | os.PathLike, dst: str | os.PathLike, target: PreparedDataset,
               device: torch.device, batch_size: int) -> bool:
    """Write the AdaBN copy of the model file ``src`` to ``dst``: statistics from
    ``target``'s images, ``batch_size`` per forward pass. A network without BatchNorm
    (VGG-16) gets a skipped record instead, AdaBN being the model itself; False then."""
    (segmenter, record), = load_for_inference([src], target)
    if not has_batchnorm(segmenter):
        save_skipped(dst, f"{record['model_config']['arch']} has no BatchNorm layer: AdaBN "
                          f"of {src} would be that model itself")
        return False
    adapted = reestimate_bn_statistics(segmenter, target, device, batch_size)
    info = {**record.get("info", {}), "method": "adabn", "adabn_of": str(src),
            "bn_statistics": f"{target.root} {target.split}", "bn_images": len(target),
            "bn_batch_size": batch_size, "bn_float_setting": float_setting()}
    save_segmenter(dst, adapted, from_dict(ModelConfig, record["model_config"], f"{src}:model_config"),
                   protocol_from_record(record, str(src)), info=info,
                   input_size=record.get("input_size"))
    return True


def write_adabn(model_path: str | os.PathLike, target: PreparedDataset, out_dir: str | os.PathLike,
                device: torch.device, batch_size: int, snapshots: bool = True) -> list[Path]:
    """AdaBN copies of the model file ``model_path`` and, with ``snapshots``, of its run's
    snapshots: ``out_dir/model.pt`` and ``out_dir/snapshots/iter_<N>.pt``, so model
    selection chooses among them as among the original run's (without, the folder is
    empty: the "last" rule needs none, and at paper scale each copy is a pass over target
    train). The snapshots folder is replaced whole; the files written."""
    out_dir = Path(out_dir)
    written = []
    with atomic_path(out_dir / "snapshots") as folder:
        folder.mkdir()
        for _, path in list_snapshots(snapshot_dir(model_path)) if snapshots else []:
            adabn_file(path, folder / path.name, target, device, batch_size)
            written.append(out_dir / "snapshots" / path.name)
    adabn_file(model_path, out_dir / "model.pt", target, device, batch_size)
    return [*written, out_dir / "model.pt"]
