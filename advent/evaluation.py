"""Evaluate one model, or an ensemble of several (weighted mean of upsampled logits), on
the target test split (the reported numbers) and the target val split (for tuning and
model selection), and measure on source train how confident the same model is there.

:func:`evaluate_models` returns plain results (:class:`Evaluation`); what of them is a
headline DVC metric, a plot or a detail is decided by :func:`headline_metrics`,
:func:`per_class_rows` and :meth:`Evaluation.details`.

Model selection (``evaluate.selection``, see :mod:`advent.selection`): the final model
file, or for each model the snapshot with the best mIoU on target val (``best_val``) or
on target test itself (``best_test``, the official ADVENT "best" mode). Ensemble members
are selected one by one.

Your own target may have no test or val labels (advent.data.folder): such a split's
record says :data:`NO_TARGET_LABELS` instead of numbers, and the samples and the target
entropy come from the first labelled split, or from the unlabelled train images. A
model whose stage was skipped (the oracle without target labels) gives records that say
so (``skipped``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Subset

from advent.data.labels import (NO_TARGET_LABELS, protocol_from_record, protocol_record,
                                same_classes)
from advent.data.prepared import PreparedDataset, read_meta
from advent.losses import entropy_map
from advent.calibration import CalibrationAccumulator, EntropyHistogram
from advent.metrics import ConfusionMatrix, summarize
from advent.params import EvaluateParams
from advent.predict import confusion_matrix_of, iterate_predictions
from advent.runtime import float_setting
from advent.selection import RULE_SPLIT, select, selection_label
from advent.snapshot import load_for_inference, read_model_file, skipped_reason

#: The target splits evaluated, in this order: test is reported, val is for tuning.
SPLITS = ("test", "val")
#: Headline metric names on test beyond mIoU and its subsets, and the keys of the
#: calibration result (:meth:`CalibrationAccumulator.result`) they come from.
TEST_CALIBRATION_METRICS = {"ece": "ece", "auroc": "auroc_entropy_wrong"}


@dataclass
class Evaluation:
    """What :func:`evaluate_models` measured.

    - ``splits``: per target split, ``advent.metrics.summarize`` of its confusion matrix
      (mIoU, subsets, pixel accuracy, per-class IoU, in %) plus ``split``, ``protocol``,
      ``selection`` (the label tables print), ``selection_rule``, ``models`` (the chosen
      files), ``lambda_cp`` and ``ensemble_weights``; on test also ``ece``,
      ``auroc_entropy_wrong`` and ``mean_entropy``.
    - ``confusion_matrix``: per split, the (C, C) pixel counts (rows = ground truth).
      A split without labels has ``no_target_labels: true`` and no numbers; a skipped
      model's records have ``skipped`` (the reason) and no numbers.
    - ``calibration``: ``target_<split>`` (``target_test``, or the split the samples come
      from when test has no labels: its entropy alone for unlabelled train images) and
      ``source_train`` calibration results.
    - ``selection``: per given model file, the candidates and their scores.
    - ``float_setting``: the threads, CPU kernel set and CPU of this evaluation
      (``evaluation``) and of the training of each chosen model (``training``): what
      decides the exact numbers (:func:`advent.runtime.float_setting`).
    - ``samples``: the first ``qualitative_samples`` test images (else of the split
      above): ``image`` (K, H, W, 3) uint8, ``label`` and ``prediction`` (K, H, W) uint8
      (labels 255 where there are none), ``entropy`` (K, H, W) float16.
    """

    splits: dict[str, dict[str, Any]]
    confusion_matrix: dict[str, list[list[int]]]
    calibration: dict[str, dict[str, Any]]
    selection: dict[str, list[dict]]
    float_setting: dict[str, Any]
    samples: dict[str, np.ndarray]

    def details(self) -> dict[str, Any]:
        """Everything but the samples, JSON-serialisable: the non-metric record a report
        and the seeds runner read (per-class IoU, pixel accuracy, calibration, selection)."""
        return {**{split: self.splits[split] for split in SPLITS},
                "confusion_matrix": self.confusion_matrix, "calibration": self.calibration,
                "selection": self.selection, "float_setting": self.float_setting}


def headline_metrics(method: str, split: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """The few numbers a DVC metrics file holds for one method and split, nested as
    ``{method: {split: {"mIoU", <protocol subsets>[, "ece", "auroc"]}}}``.

    Keys carry the method and the split, so that no two metrics files share a key and
    ``dvc exp show`` names its columns ``minent.test.mIoU`` rather than prefixing the
    file path. ECE and AUROC (entropy as a detector of wrong pixels) are on test only.
    """
    if record.get("skipped") or record.get("no_target_labels"):
        return {method: {split: "skipped" if record.get("skipped") else NO_TARGET_LABELS}}
    protocol = protocol_from_record(record)
    values = {key: record[key] for key in ("mIoU", *protocol.subsets)}
    if split == "test":
        values.update({name: record[key] for name, key in TEST_CALIBRATION_METRICS.items()})
    return {method: {split: values}}


def per_class_rows(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per-class IoU of one split as rows ``{"class": name, "IoU": % or None}``, in the
    protocol's class order: the data of a DVC bar plot (None throughout for a split
    without numbers)."""
    if "per_class_iou" not in record:
        return [{"class": name, "IoU": None} for name in protocol_from_record(record).class_names]
    return [{"class": name, "IoU": iou} for name, iou in record["per_class_iou"].items()]


def _select_models(paths: Sequence[Path], rule: str, scoring: PreparedDataset,
                   device: torch.device, batch_size: int,
                   log: Callable[[str], None]) -> tuple[list[Path], dict[str, list[dict]]]:
    """The model file chosen for each of ``paths`` under ``rule``, and every candidate's score."""
    def score(path: Path) -> float:
        matrix = confusion_matrix_of([m for m, _ in load_for_inference([path], scoring)], scoring,
                                     device, scoring.protocol.num_classes, batch_size)
        return summarize(matrix, scoring.protocol)["mIoU"]

    chosen, record = list(paths), {}
    for i, path in enumerate(paths):
        chosen[i], record[str(path)] = select(path, rule, score)
        log(f"selected {chosen[i]} ({rule})")
    return chosen, record


def evaluate_models(model_paths: Sequence[str | os.PathLike], target: str | os.PathLike,
                    source: str | os.PathLike, cfg: EvaluateParams, device: torch.device,
                    weights: Sequence[float] | None = None,
                    log: Callable[[str], None] = print) -> Evaluation:
    """Evaluate the model file(s) at ``model_paths`` (several = an ensemble, ``weights``
    one per model, default equal) on the prepared ``target`` test and val splits and on
    the first ``cfg.source_samples`` images of ``source`` train.

    Logits are upsampled to the label resolution before the argmax. Every model must be
    trained in the protocol both datasets are labelled in (ValueError naming them
    otherwise, raised before anything is computed). A target split that is not there has
    no labels: its record says so (and a ``best_*`` selection that needs it is refused).
    A skipped model (see :func:`advent.snapshot.save_skipped`) gives records that say
    why, and nothing else.
    """
    paths = [Path(p) for p in model_paths]
    if weights is not None and len(weights) != len(paths):
        raise ValueError(f"{len(weights)} ensemble weights for {len(paths)} models")
    target = Path(target)
    label = selection_label(cfg.selection)
    skipped = [(p, reason) for p in paths
               if (reason := skipped_reason(read_model_file(p, allow_skipped=True)))]
    if skipped:
        return _skipped(skipped, paths, target, cfg)
    present = [split for split in SPLITS if split in read_meta(target)["splits"]]
    if cfg.selection != "last" and RULE_SPLIT[cfg.selection] not in present:
        raise ValueError(f"evaluate.selection is {cfg.selection} but {target} has no "
                         f"{RULE_SPLIT[cfg.selection]} split ({NO_TARGET_LABELS}): nothing to "
                         f"select on; use evaluate.selection: last")
    # Every input is opened and checked before anything is computed.
    splits = {split: PreparedDataset(target, split) for split in present}
    # without a labelled split: predictions and entropy on the (unlabelled) train images
    unlabelled = None if present else PreparedDataset(target, "train")
    reference = splits[present[0]] if present else unlabelled
    source_train = PreparedDataset(Path(source), "train")
    if not same_classes(source_train.protocol, reference.protocol):
        raise ValueError(f"{source} is labelled in {source_train.protocol.name} but {target} "
                         f"in {reference.protocol.name}")
    loaded = load_for_inference(paths, reference)
    models = [m for m, _ in loaded]
    # the split whose first images are drawn and whose entropy is measured
    shown = present[0] if present else "train"

    chosen, selection = list(paths), {}
    if cfg.selection != "last":
        chosen, selection = _select_models(paths, cfg.selection, splits[RULE_SPLIT[cfg.selection]],
                                           device, cfg.batch_size, log)
        loaded = load_for_inference(chosen, reference)
        models = [m for m, _ in loaded]
    # The class-ratio prior weight the (chosen) models were trained with: the report
    # names methods trained with it "+ CP".
    lambda_cp = max(float((data["info"].get("method_params") or {}).get("lambda_cp", 0.0))
                    for _, data in loaded)
    common = {"selection": label, "selection_rule": cfg.selection,
              "models": [str(m) for m in chosen], "lambda_cp": lambda_cp,
              "ensemble_weights": weights}

    records: dict[str, dict[str, Any]] = {}
    confusions: dict[str, list[list[int]]] = {}
    calibration: dict[str, dict[str, Any]] = {}
    samples: dict[str, list[np.ndarray]] = {"image": [], "label": [], "prediction": [], "entropy": []}
    for split, dataset in splits.items():
        confusion = ConfusionMatrix(dataset.protocol.num_classes)
        target_calibration = CalibrationAccumulator()
        for images, labels, logits, index in iterate_predictions(models, dataset, device,
                                                                 cfg.batch_size, weights):
            prediction = logits.argmax(1)
            confusion.update(prediction, labels)
            if split != shown:
                continue
            target_calibration.update(logits.softmax(1), labels)
            _keep(samples, cfg.qualitative_samples, images, labels, prediction, logits, index)
        record = summarize(confusion.matrix, dataset.protocol)
        record.update({"split": split, **protocol_record(dataset.protocol), **common})
        confusions[split] = confusion.matrix.tolist()
        if split == shown:
            result = target_calibration.result()
            calibration[f"target_{split}"] = result
            if split == "test":
                record.update({"ece": result["ece"], "auroc_entropy_wrong": result["auroc_entropy_wrong"],
                               "mean_entropy": result["mean_entropy"]})
        records[split] = record
        log(f"{split}: mIoU {record['mIoU']:.2f}")
    if unlabelled is not None:
        entropy = EntropyHistogram()
        first = Subset(unlabelled, range(min(cfg.source_samples, len(unlabelled))))
        for images, labels, logits, index in iterate_predictions(models, first, device,
                                                                 cfg.batch_size, weights):
            entropy.update(entropy_map(logits))
            _keep(samples, cfg.qualitative_samples, images, labels, logits.argmax(1), logits, index)
        calibration["target_train"] = entropy.result()
    for split in SPLITS:
        if split not in records:
            records[split] = {"split": split, **protocol_record(reference.protocol), **common,
                              "no_target_labels": True}
            log(f"{split}: {NO_TARGET_LABELS}")

    # The same model on (a fixed part of) its labelled source: is it confident there?
    subset = Subset(source_train, range(min(cfg.source_samples, len(source_train))))
    source_calibration = CalibrationAccumulator()
    for _, labels, logits, _ in iterate_predictions(models, subset, device, cfg.batch_size, weights):
        source_calibration.update(logits.softmax(1), labels)
    calibration["source_train"] = source_calibration.result()

    settings = {"evaluation": float_setting(),
                "training": [data["info"].get("float_setting") for _, data in loaded]}
    return Evaluation(splits=records, confusion_matrix=confusions, calibration=calibration,
                      selection=selection, float_setting=settings,
                      samples={k: np.concatenate(v) for k, v in samples.items()})


def _keep(samples: dict[str, list[np.ndarray]], count: int, images: torch.Tensor,
          labels: torch.Tensor, prediction: torch.Tensor, logits: torch.Tensor,
          index: torch.Tensor) -> None:
    """Append the batch's samples among the first ``count`` of their split."""
    keep = index < count
    if keep.any():
        samples["image"].append(images[keep].permute(0, 2, 3, 1).numpy())
        samples["label"].append(labels[keep].numpy().astype(np.uint8))
        samples["prediction"].append(prediction[keep].numpy().astype(np.uint8))
        samples["entropy"].append(entropy_map(logits[keep]).numpy().astype(np.float16))


def _skipped(skipped: list[tuple[Path, str]], paths: Sequence[Path], target: Path,
             cfg: EvaluateParams) -> Evaluation:
    """The records of models whose stage was skipped: why, and no numbers."""
    protocol = protocol_from_record(read_meta(target), str(target))
    reason = "; ".join(f"{path}: {why}" for path, why in skipped)
    records = {split: {"split": split, **protocol_record(protocol),
                       "selection": selection_label(cfg.selection), "selection_rule": cfg.selection,
                       "models": [str(p) for p in paths], "skipped": reason} for split in SPLITS}
    return Evaluation(splits=records, confusion_matrix={}, calibration={}, selection={},
                      float_setting={"evaluation": float_setting(), "training": []}, samples={})
