"""The pieces that the training stages share: build a method from parameters, train
it, save the result. Stage scripts stay a few lines each; the loop itself is
:func:`advent.train.train`."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import torch

from advent.data.labels import same_classes
from advent.data.prepared import PreparedDataset, PreparedUnion, class_histogram
from advent.losses import ClassRatioPrior
from advent.methods import AdvEnt, MinEnt, Objective, SelfTraining, SourceOnly
from advent.models import Discriminator, build_segmenter
from advent.models.checkpoints import load_pretrained
from advent.io import digest_of, sha256_file
from advent.params import (AdvEntParams, IntraDAParams, MinEntParams, ModelConfig, Params,
                           SelfTrainParams)
from advent.snapshot import (SnapshotWriter, list_snapshots, load_segmenter, save_segmenter,
                             save_skipped)
from advent.runtime import float_setting, is_main_process, seed_everything
from advent.train import LogFn, train

#: Training methods; the oracle is source-only training on the target's own labels.
Method = Literal["source_only", "oracle", "minent", "advent", "self_train", "intrada"]


def method_section(method: Method, params: Params
                   ) -> MinEntParams | AdvEntParams | SelfTrainParams | IntraDAParams | None:
    """The params section holding ``method``'s own hyper-parameters (None: it has none)."""
    sections = {"source_only": None, "oracle": None, "minent": params.adapt.minent,
                "advent": params.adapt.advent, "self_train": params.self_train,
                "intrada": params.intrada}
    if method not in sections:
        raise ValueError(f"unknown method {method!r}")
    return sections[method]


def build_objective(method: Method, params: Params, num_classes: int,
                    source: PreparedDataset | PreparedUnion | None = None) -> Objective:
    """The method's objective with its hyper-parameters from ``params``.

    ``source`` is needed only when the class-ratio prior is on (its class histogram).
    IntraDA is the AdvEnt objective with the ``intrada`` section's hyper-parameters (its
    source is the easy split with pseudo-labels, its target the hard split).
    """
    aux = params.train.lambda_seg_aux
    if method in ("source_only", "oracle"):
        return SourceOnly(aux)
    if method == "self_train":
        return SelfTraining(params.self_train.lambda_target, aux, params.self_train.lambda_source)
    cfg = method_section(method, params)
    prior = None
    if cfg.lambda_cp:
        if source is None:
            raise ValueError("the class-ratio prior needs the source dataset")
        prior = ClassRatioPrior(torch.from_numpy(class_histogram(source)), cfg.cp_mu)
    if method == "minent":
        return MinEnt(cfg.lambda_ent_main, cfg.lambda_ent_aux, cfg.entropy_range,
                      prior, cfg.lambda_cp, aux)
    if method in ("advent", "intrada"):
        multi = params.model.multi_level
        make_d = lambda: Discriminator(num_classes, cfg.d_width, cfg.d_layers)  # noqa: E731
        return AdvEnt(make_d(), make_d() if multi else None, cfg.lambda_adv_main,
                      cfg.lambda_adv_aux, prior, cfg.lambda_cp, aux)
    raise ValueError(f"unknown method {method!r}")


def train_and_save(method: Method, params: Params, iterations: int,
                   source: PreparedDataset | PreparedUnion, target: PreparedDataset | None,
                   out_dir: Path, init_model: Path | None = None,
                   log: LogFn | None = None, warmup_iterations: int | None = None) -> None:
    """Start from ``init_model`` (a model file) or else a new network initialised from
    ``params.init.weights``; train with ``method``; write ``out_dir/model.pt``.

    ``out_dir/resume.pt`` holds the last checkpoint: rerunning after an interruption
    continues from it when the run's fingerprint (params, data, init weights) is unchanged.
    ``out_dir/snapshots/iter_<N>.pt`` are the model files of every
    ``train.snapshot_every``-th iteration before the last (for model selection).
    ``warmup_iterations`` (None: ``train.warmup_iterations``) is this run's LR warm-up.
    """
    protocol = source.protocol
    if target is not None and not same_classes(target.protocol, protocol):
        raise ValueError(f"source {source.root} uses protocol {protocol.name} "
                         f"{list(protocol.class_names)} but target {target.root} uses "
                         f"{target.protocol.name} {list(target.protocol.class_names)}")
    model_cfg: ModelConfig = params.model
    if init_model is None and params.init.weights and not Path(params.init.weights).is_file():
        raise FileNotFoundError(f"init.weights: no file at {params.init.weights}")
    seed_everything(params.train.seed)  # reproducible init, equal on every rank
    if init_model is not None:
        segmenter, init_file = load_segmenter(init_model, protocol, source.root)
        if init_file["model_config"] != dataclasses.asdict(model_cfg):
            raise ValueError(f"{init_model} was trained with model {init_file['model_config']}, "
                             f"params.yaml asks for {dataclasses.asdict(model_cfg)}")
    else:
        segmenter = build_segmenter(model_cfg, protocol.num_classes)
        if params.init.weights:
            load_pretrained(segmenter.net, params.init.weights, params.init.layout)
    train_cfg = (params.train if warmup_iterations is None
                 else dataclasses.replace(params.train, warmup_iterations=warmup_iterations))
    objective = build_objective(method, params, protocol.num_classes, source)
    method_params = method_section(method, params)
    fingerprint = digest_of(
        method=method, train=train_cfg, model=model_cfg, iterations=iterations,
        method_params=method_params,
        source=source.meta,
        target=target.meta if target is not None else None,
        init=sha256_file(init_model) if init_model is not None else None,
        init_weights=(sha256_file(params.init.weights)
                      if init_model is None and params.init.weights else None))
    out_dir.mkdir(parents=True, exist_ok=True)
    info = {"method": method, "iterations": iterations, "seed": params.train.seed,
            "method_params": dataclasses.asdict(method_params) if method_params else None,
            "float_setting": float_setting()}
    # New images are resized to what the run adapted to (the target's size), if anything.
    input_size = (target or source).image_size
    snapshots = SnapshotWriter(out_dir / "snapshots", model_cfg, protocol, info, input_size)
    trained = train(segmenter, objective, source, target, train_cfg, iterations,
                    checkpoint_path=out_dir / "resume.pt", fingerprint=fingerprint, log=log,
                    snapshots=snapshots)
    if is_main_process():
        save_segmenter(out_dir / "model.pt", trained, model_cfg, protocol,
                       info={**info, "iteration": iterations}, input_size=input_size)


def skip_training(out_dir: Path, reason: str) -> None:
    """Write what a training stage that cannot train leaves: a skipped record as
    ``model.pt`` (the stages after it say ``reason``), one as ``resume.pt`` (no
    checkpoint to resume from), and an empty ``snapshots/``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    save_skipped(out_dir / "model.pt", reason)
    save_skipped(out_dir / "resume.pt", reason)
    (out_dir / "snapshots").mkdir(exist_ok=True)
    for _, stale in list_snapshots(out_dir / "snapshots"):  # of an earlier run that had labels
        stale.unlink()
