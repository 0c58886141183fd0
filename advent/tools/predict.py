"""Apply a trained model file to new images of any size (see advent/apply.py).

A by-hand tool, not a pipeline stage. The model file says its classes, palette,
training input size and preprocessing; each image is resized to that size, predicted
in batches, and mapped back to its own size. Per image it writes a label-id PNG, a
colour mask, an entropy map and (--overlay) the image under the mask, and it ranks the
images by mean entropy in summary.csv / summary.json: the first are those the model is
least sure of, the ones to label next. A rerun skips images already done with the same
model file (by its SHA-256).

Examples:
  advent-predict --model models/advent/model.pt --out predictions data/own/new_images
  advent-predict --model models/self_train/model.pt --out predictions --overlay \\
      --device cuda --batch-size 8 shots/a.jpg shots/b.png more_shots/ list_of_images.txt
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from advent.apply import predict_images
from advent.cli import add_debug_flag, run_tool
from advent.runtime import resolve_device


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="advent-predict", description=__doc__.split("\n\nExamples:")[0],
        epilog=__doc__[__doc__.index("Examples:"):],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="+", type=Path,
                        help="image files (PNG, JPEG), folders of them, or .txt files listing "
                             "image paths one a line (relative to the list file's folder)")
    parser.add_argument("--model", required=True, type=Path,
                        help="a model file of this project (models/<method>/model.pt)")
    parser.add_argument("--out", required=True, type=Path,
                        help="output folder: labels/, color/, entropy/, [overlay/], records/, "
                             "summary.csv, summary.json")
    parser.add_argument("--overlay", action="store_true",
                        help="also write each image under its colour mask (overlay/)")
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when present) | cpu | cuda | cuda:N (default auto)")
    parser.add_argument("--batch-size", type=int, default=4, help="images per batch (default 4)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_debug_flag(parser)
    return parser


def run(argv: list[str] | None = None) -> int:
    """The tool itself: errors propagate (:func:`main` reports them)."""
    args = build_parser().parse_args(argv)
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", args.device):
        raise ValueError(f"--device must be auto, cpu, cuda or cuda:N, got {args.device!r}")
    try:
        device = resolve_device(args.device)
    except RuntimeError:
        raise RuntimeError(f"--device {args.device}: CUDA is not available here") from None
    rows = predict_images(args.model, args.images, args.out, device, args.batch_size,
                          args.overlay, progress=not args.quiet)
    top = rows[0]
    print(f"{len(rows)} images -> {args.out}; most uncertain: {top['image']} "
          f"(mean entropy {top['mean_entropy']:.3f}); ranking in {args.out / 'summary.csv'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``advent-predict``: exit status 1 and one line on stderr on any failure."""
    return run_tool(run, argv, "advent-predict")


if __name__ == "__main__":
    sys.exit(main())
