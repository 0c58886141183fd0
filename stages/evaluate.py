"""Evaluate one model, or an ensemble of several (mean of upsampled logits), on the
target test split (the reported numbers) and the target val split (for tuning and
model selection). Logits are upsampled to the label resolution before the argmax.

Model selection (evaluate.selection): the final model file (last), or for each model
the snapshot with the best mIoU on target val (best_val) or, the official ADVENT
"best" mode, on target test itself (best_test: optimistic, labelled so everywhere).
Ensemble members are selected one by one.

Writes into --out:
  test.json, val.json  mIoU (+ protocol subsets), per-class IoU, pixel accuracy and, on
                       test, calibration (ECE) and how well entropy flags errors (AUROC)
  details.json         confusion matrices, reliability diagrams, entropy histograms on
                       target test and on source train (the paper's premise: confident on
                       source, unsure on target), the selection's candidates and scores
  samples.npz          image, ground truth, prediction, entropy of the first test images
Reads params: evaluate, train.device.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.data import Subset

from advent.cli import run_stage, stage_parser
from advent.data.prepared import PreparedDataset
from advent.io import atomic_path, write_json
from advent.losses import entropy_map
from advent.metrics import CalibrationAccumulator, ConfusionMatrix, summarize
from advent.predict import confusion_matrix_of, iterate_predictions
from advent.selection import RULE_SPLIT, select, selection_label
from advent.snapshot import load_segmenter
from advent.runtime import resolve_device


def main(args, params) -> None:
    cfg = params.evaluate
    if args.weights is not None and len(args.weights) != len(args.models):
        raise ValueError(f"--weights gives {len(args.weights)} values for {len(args.models)} models")
    loaded = [load_segmenter(p) for p in args.models]
    models = [m for m, _ in loaded]
    protocols = {info["protocol"] for _, info in loaded}
    device = resolve_device(params.train.device)

    def open_split(root: Path, split: str) -> PreparedDataset:
        dataset = PreparedDataset(root, split)
        if protocols != {dataset.protocol.name}:
            raise ValueError(f"models {[str(p) for p in args.models]} use protocol(s) "
                             f"{sorted(protocols)} but {root} is labelled in "
                             f"{dataset.protocol.name}")
        return dataset

    splits = {split: open_split(args.target, split) for split in ("test", "val")}
    details: dict = {"confusion_matrix": {}, "calibration": {}, "selection": {}}
    chosen = list(args.models)
    if cfg.selection != "last":
        scoring = splits[RULE_SPLIT[cfg.selection]]

        def score(path: Path) -> float:
            matrix = confusion_matrix_of([load_segmenter(path)[0]], scoring, device,
                                         scoring.protocol.num_classes, cfg.batch_size)
            return summarize(matrix, scoring.protocol)["mIoU"]

        for i, path in enumerate(args.models):
            chosen[i], details["selection"][str(path)] = select(path, cfg.selection, score)
            print(f"{args.out.name}: selected {chosen[i]} ({cfg.selection})")
        loaded = [load_segmenter(p) for p in chosen]
        models = [m for m, _ in loaded]
    # The class-ratio prior weight the (chosen) models were trained with: the report
    # names methods trained with it "+ CP".
    lambda_cp = max(float((data["info"].get("method_params") or {}).get("lambda_cp", 0.0))
                    for _, data in loaded)
    selection = selection_label(cfg.selection)

    samples: dict[str, list[np.ndarray]] = {"image": [], "label": [], "prediction": [], "entropy": []}
    for split, dataset in splits.items():
        confusion = ConfusionMatrix(dataset.protocol.num_classes)
        calibration = CalibrationAccumulator()
        for images, labels, logits, index in iterate_predictions(models, dataset, device, cfg.batch_size, args.weights):
            prediction = logits.argmax(1)
            confusion.update(prediction, labels)
            if split != "test":
                continue
            calibration.update(logits.softmax(1), labels)
            keep = index < cfg.qualitative_samples
            if keep.any():
                samples["image"].append(images[keep].permute(0, 2, 3, 1).numpy())
                samples["label"].append(labels[keep].numpy().astype(np.uint8))
                samples["prediction"].append(prediction[keep].numpy().astype(np.uint8))
                samples["entropy"].append(entropy_map(logits[keep]).numpy().astype(np.float16))
        result = summarize(confusion.matrix, dataset.protocol)
        result.update({"split": split, "protocol": dataset.protocol.name, "selection": selection,
                       "selection_rule": cfg.selection, "models": [str(m) for m in chosen],
                       "lambda_cp": lambda_cp,
                       "ensemble_weights": args.weights})
        details["confusion_matrix"][split] = confusion.matrix.tolist()
        if split == "test":
            target_cal = calibration.result()
            details["calibration"]["target_test"] = target_cal
            result.update({"ece": target_cal["ece"], "auroc_entropy_wrong": target_cal["auroc_entropy_wrong"],
                           "mean_entropy": target_cal["mean_entropy"]})
        write_json(args.out / f"{split}.json", result)
        print(f"{args.out.name} {split}: mIoU {result['mIoU']:.2f}")

    # The same model on (a fixed part of) its labelled source: is it confident there?
    source = open_split(args.source, "train")
    subset = Subset(source, range(min(cfg.source_samples, len(source))))
    calibration = CalibrationAccumulator()
    for _, labels, logits, _ in iterate_predictions(models, subset, device, cfg.batch_size, args.weights):
        calibration.update(logits.softmax(1), labels)
    details["calibration"]["source_train"] = calibration.result()

    write_json(args.out / "details.json", details)
    with atomic_path(args.out / "samples.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **{k: np.concatenate(v) for k, v in samples.items()})


if __name__ == "__main__":
    p = stage_parser(__doc__)
    p.add_argument("--models", type=Path, nargs="+", required=True,
                   help="model file(s); several = an ensemble (weighted mean of upsampled logits)")
    p.add_argument("--weights", type=float, nargs="+",
                   help="ensemble weights, one per model (default: equal)")
    p.add_argument("--target", type=Path, default=Path("data/prepared/target"))
    p.add_argument("--source", type=Path, default=Path("data/prepared/source"))
    p.add_argument("--out", type=Path, required=True, help="output folder")
    run_stage(main, p.parse_args())
