"""Prepare a raw dataset (GTA5, SYNTHIA-RAND-CITYSCAPES, Cityscapes or your own folders) by hand.

A by-hand tool: it takes plain arguments, not params.yaml. Output is a prepared dataset
(tar shards of PNGs + meta.json, see advent/data/prepared.py). Rerunning it with the same
arguments on unchanged input does nothing. Prints a one-line JSON summary on stdout.

Examples:
  advent-prepare-raw --dataset gta5 --raw-root data/raw/gta5 \\
      --out data/prepared/gta5 --image-size 720 1280
  advent-prepare-raw --dataset cityscapes --raw-root data/raw/cityscapes \\
      --out data/prepared/cityscapes --image-size 512 1024 --val-count 200 \\
      --test-label-size 1024 2048     # test labels at full resolution (the paper's scoring)
  advent-prepare-raw --dataset cityscapes --raw-root data/raw/cityscapes \\
      --out data/prepared/cityscapes16 --image-size 512 1024 --protocol synthia16
  advent-prepare-raw --dataset folder --raw-root data/own/source \\
      --class-map data/own/classes.yaml --out data/prepared/own --image-size 512 1024
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from advent.cli import add_debug_flag, run_tool
from advent.data.raw import MISMATCH_POLICIES, prepare, result_json
from advent.data.registry import KINDS, all_protocols, all_splits


def build_parser() -> argparse.ArgumentParser:
    layouts = "\n".join(f"  {kind.name}: {kind.layout}" for kind in KINDS.values())
    parser = argparse.ArgumentParser(
        prog="advent-prepare-raw",
        description=__doc__.split("\n\n")[0] + "\n\nRaw layouts expected under --raw-root:\n"
        + layouts + "\n\nCityscapes splits: train = official train minus the hold-out, "
        "val = --val-count official-train images drawn with --seed (model selection), "
        "test = official val (the numbers papers report). Folder splits: train = images/, "
        "val = val/ (or --val-count test/ images drawn with --seed), test = test/.",
        epilog=__doc__[__doc__.index("Examples:"):],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, choices=list(KINDS), help="raw dataset kind")
    parser.add_argument("--raw-root", required=True, type=Path,
                        help="folder holding the raw layout (or one level above it)")
    parser.add_argument("--out", required=True, type=Path,
                        help="prepared dataset folder to write (replaced atomically)")
    parser.add_argument("--image-size", required=True, nargs=2, type=int, metavar=("H", "W"),
                        help="output height and width of images and labels "
                             "(GTA5 720 1280, SYNTHIA 760 1280, Cityscapes 512 1024)")
    parser.add_argument("--protocol", choices=all_protocols(), default=None,
                        help="label space (default: cityscapes19; synthia16 for SYNTHIA, and "
                             "for Cityscapes when the source is SYNTHIA; the folder kind: its "
                             "class map's)")
    parser.add_argument("--class-map", type=Path, default=None,
                        help="folder: the class-map YAML its labels are decoded through "
                             "(README: Your own data)")
    parser.add_argument("--val-count", type=int, default=None,
                        help="Cityscapes: official-train images held out as split 'val' "
                             "(default 200; 0 = no val split); folder: test/ images held out "
                             "as val (default 0)")
    parser.add_argument("--seed", type=int, default=1234,
                        help="Cityscapes, folder: seed of the val hold-out draw (default 1234)")
    parser.add_argument("--splits", nargs="+", choices=all_splits(), default=None,
                        help="Cityscapes, folder: prepared splits to write (default: all "
                             "there are)")
    parser.add_argument("--test-label-size", nargs=2, type=int, metavar=("H", "W"), default=None,
                        help="Cityscapes: size of the test split's labels (default: --image-size; "
                             "1024 2048 = full resolution, as the paper scores)")
    parser.add_argument("--list-file", type=Path, default=None,
                        help="GTA5/SYNTHIA: text file of sample ids to use (default: all)")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes (default: all cores; 1 = no pool)")
    parser.add_argument("--image-format", choices=("png", "jpg"), default="png",
                        help="encoding of prepared images (default png, lossless)")
    parser.add_argument("--on-size-mismatch", choices=MISMATCH_POLICIES, default="error",
                        help="image and label of different sizes: error (default), skip the "
                             "pair (listed in meta.json), or resize each on its own")
    parser.add_argument("--shard-size", type=int, default=1000,
                        help="samples per tar shard (default 1000)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_debug_flag(parser)
    return parser


def run(argv: list[str] | None = None) -> int:
    """The tool itself: errors propagate (:func:`main` reports them)."""
    args = build_parser().parse_args(argv)
    result = prepare(args.dataset, args.raw_root, args.out, tuple(args.image_size),
                     protocol=args.protocol, val_count=args.val_count, seed=args.seed,
                     splits=args.splits, list_file=args.list_file, workers=args.workers,
                     image_format=args.image_format, on_size_mismatch=args.on_size_mismatch,
                     shard_size=args.shard_size, progress=not args.quiet,
                     test_label_size=tuple(args.test_label_size) if args.test_label_size else None,
                     class_map=args.class_map)
    print(result_json(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``advent-prepare-raw``: exit status 1 and one line on stderr on any failure."""
    return run_tool(run, argv, "advent-prepare-raw")


if __name__ == "__main__":
    sys.exit(main())
