"""Evaluate one model, or an ensemble of several (mean of upsampled logits), on the
target test split (the reported numbers) and the target val split (for tuning and
model selection). Logits are upsampled to the label resolution before the argmax.

Writes <out>/test.json and <out>/val.json (per-class IoU, mIoU, confusion matrix)
and <out>/samples.npz (image, ground truth, prediction and entropy map of the first
test images, for the report's qualitative figure). Reads params: evaluate, train.device.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from _common import parser, run

from advent.data.prepared import PreparedDataset
from advent.io import atomic_path, write_json
from advent.losses import entropy_map
from advent.metrics import ConfusionMatrix, summarize
from advent.predict import iterate_predictions
from advent.snapshot import load_segmenter
from advent.train import resolve_device

SELECTION = "last checkpoint"


def main(args, params) -> None:
    cfg = params.evaluate
    loaded = [load_segmenter(p) for p in args.models]
    models = [m for m, _ in loaded]
    protocols = {info["protocol"] for _, info in loaded}
    device = resolve_device(params.train.device)
    samples: dict[str, list[np.ndarray]] = {"image": [], "label": [], "prediction": [], "entropy": []}
    for split in ("test", "val"):
        dataset = PreparedDataset(args.target, split)
        if protocols != {dataset.protocol.name}:
            raise ValueError(f"models {args.models} use protocol(s) {sorted(protocols)} but "
                             f"{args.target} is labelled in {dataset.protocol.name}")
        confusion = ConfusionMatrix(dataset.protocol.num_classes)
        for images, labels, logits, index in iterate_predictions(models, dataset, device, cfg.batch_size):
            prediction = logits.argmax(1)
            confusion.update(prediction.numpy(), labels.numpy())
            if split == "test":
                keep = index < cfg.qualitative_samples
                if keep.any():
                    samples["image"].append(images[keep].permute(0, 2, 3, 1).numpy())
                    samples["label"].append(labels[keep].numpy().astype(np.uint8))
                    samples["prediction"].append(prediction[keep].numpy().astype(np.uint8))
                    samples["entropy"].append(entropy_map(logits[keep]).numpy().astype(np.float16))
        result = summarize(confusion.matrix, dataset.protocol)
        result.update({"split": split, "protocol": dataset.protocol.name, "selection": SELECTION,
                       "models": [str(p) for p in args.models],
                       "confusion_matrix": confusion.matrix.tolist()})
        write_json(args.out / f"{split}.json", result)
        print(f"{args.out.name} {split}: mIoU {result['mIoU']:.2f}")
    with atomic_path(args.out / "samples.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **{k: np.concatenate(v) for k, v in samples.items()})


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--models", type=Path, nargs="+", required=True,
                   help="model file(s); several = an ensemble with equal weights")
    p.add_argument("--target", type=Path, default=Path("data/prepared/target"))
    p.add_argument("--out", type=Path, required=True, help="output folder")
    run(main, p.parse_args())
