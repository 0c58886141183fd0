"""Make a pretrained init for the embedded benchmark: the tiny network's backbone trained
on a separate sample of source scenes, saved in the DeepLab ImageNet init layout
(``init.layout: deeplab_imagenet``), heads left out.

It plays the part of the paper's ImageNet weights: a start that every run of every
machine shares bit for bit, made once and then read, never remade, by the pipeline. The
sample shares no scene with the benchmark (its own scene seed) and never sees the target
domain. Running this again, on another machine above all, gives another file (float
arithmetic), so `init.weights` names the one file made once.

    python scripts/make_init.py --out init/tiny_backbone.pt
"""
from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

from advent.cli import run_tool
from advent.data.domains import prepare_domain
from advent.data.prepared import PreparedDataset
from advent.io import sha256_file, torch_save
from advent.models.checkpoints import backbone_state_dict
from advent.params import load_params
from advent.pipeline import train_and_save
from advent.runtime import apply_float_setting
from advent.snapshot import load_segmenter


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="the init file to write")
    p.add_argument("--params", type=Path, default=Path("params.yaml"),
                   help="model, data.synthetic (size, gap) and train settings (default: params.yaml)")
    p.add_argument("--scene-seed", type=int, default=1000,
                   help="scene seed of the sample (default 1000; the benchmark's is data.synthetic.seed)")
    p.add_argument("--images", type=int, default=2000, help="source scenes in the sample (default 2000)")
    p.add_argument("--iterations", type=int, default=1200, help="training iterations (default 1200)")
    p.add_argument("--seed", type=int, default=1000, help="train.seed of the training (default 1000)")
    args = p.parse_args(argv)
    # Checked before the minutes of training that would otherwise be thrown away.
    for flag, value in (("--images", args.images), ("--iterations", args.iterations)):
        if value < 1:
            p.error(f"{flag} must be at least 1, got {value}")
    if args.out.is_dir():
        p.error(f"--out {args.out} is a folder; give the path of the file to write")
    if args.out.parent.exists() and not args.out.parent.is_dir():
        p.error(f"--out {args.out}: {args.out.parent} is not a folder")

    params = load_params(args.params)
    if params.data.source != "synthetic":
        raise ValueError(f"{args.params}: data.source is {params.data.source!r}; this init is made "
                         "from procedural source scenes (data.source: synthetic)")
    if args.scene_seed == params.data.synthetic.seed:
        raise ValueError(f"--scene-seed {args.scene_seed} is the benchmark's own "
                         "(data.synthetic.seed): the sample must share no scene with it")
    synthetic = dataclasses.replace(params.data.synthetic, seed=args.scene_seed, source_train=args.images)
    params = dataclasses.replace(
        params, data=dataclasses.replace(params.data, synthetic=synthetic),
        init=dataclasses.replace(params.init, weights=""),
        train=dataclasses.replace(params.train, seed=args.seed, snapshot_every=0))
    apply_float_setting(params.train.threads, params.train.cpu_capability)
    with tempfile.TemporaryDirectory() as tmp:
        prepare_domain(params.data, "source", Path(tmp) / "source")
        source = PreparedDataset(Path(tmp) / "source", "train")
        train_and_save("source_only", params, args.iterations, source, None, Path(tmp) / "model")
        segmenter, _ = load_segmenter(Path(tmp) / "model" / "model.pt")
    torch_save(backbone_state_dict(segmenter), args.out)
    print(f"{args.out}: sha256 {sha256_file(args.out)} (init.layout: deeplab_imagenet)")


if __name__ == "__main__":
    raise SystemExit(run_tool(main, name="make_init"))
