"""Download and unpack one real dataset, or check a copy you already have.

A by-hand tool with plain arguments (not params.yaml). Prints the raw root (the folder to
pass to advent-prepare-raw --raw-root) on stdout; progress goes to stderr.

Archives go to DEST/archives (interrupted downloads resume from *.part), contents to
DEST/raw. Rerunning skips finished downloads and extractions.

Examples:
  advent-download --dataset gta5 --dest data/raw/gta5
  advent-download --dataset cityscapes --dest data/raw/cityscapes \\
      --existing /datasets/cityscapes          # already on disk: only checked
"""
from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from advent.cli import add_debug_flag, run_tool
from advent.data.download import fetch_dataset
from advent.data.registry import KINDS


def _downloadable() -> str:
    """The kinds with a download source, one paragraph each (from the registry)."""
    lines = []
    for kind in KINDS.values():
        if kind.source is not None:
            lines.append(f"  {kind.name:<11} {kind.title}")
            lines += [f"  {'':<11} {line}" for line in textwrap.wrap(kind.source.note, 72)]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="advent-download", description=__doc__,
        epilog=f"datasets:\n{_downloadable()}",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True,
                        choices=[k.name for k in KINDS.values() if k.source is not None],
                        help="which dataset")
    parser.add_argument("--dest", required=True, type=Path,
                        help="folder for archives/ and raw/ (created)")
    parser.add_argument("--existing", type=Path, default=None,
                        help="folder that already holds the unpacked dataset: its layout is "
                             "checked and nothing is downloaded")
    parser.add_argument("--delete-archives", action="store_true",
                        help="delete each archive once it is extracted (saves disk; a "
                             "rerun then cannot re-extract without downloading again)")
    parser.add_argument("--retries", type=int, default=5,
                        help="retries per file after network errors (default 5)")
    parser.add_argument("--backoff", type=float, default=2.0,
                        help="first retry delay in seconds, doubled each time (default 2)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    add_debug_flag(parser)
    return parser


def run(argv: list[str] | None = None) -> int:
    """The tool itself: errors propagate (:func:`main` reports them)."""
    args = build_parser().parse_args(argv)
    root = fetch_dataset(args.dataset, args.dest, existing=args.existing,
                         keep_archives=not args.delete_archives, retries=args.retries,
                         backoff=args.backoff, progress=not args.quiet)
    print(root)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``advent-download``: exit status 1 and one line on stderr on any failure."""
    return run_tool(run, argv, "advent-download")


if __name__ == "__main__":
    sys.exit(main())
