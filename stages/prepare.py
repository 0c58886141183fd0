"""Prepare one domain's dataset in the prepared form: generate the procedural
benchmark, or take a real dataset from data.<name>.raw_root (downloading it there
first when data.<name>.download is true) and resize it."""
from __future__ import annotations

from pathlib import Path

from advent.cli import run_stage, stage_parser
from advent.data.domains import prepare_domain


def main(args, params) -> None:
    prepare_domain(params.data, args.domain, args.out)


if __name__ == "__main__":
    p = stage_parser(__doc__ + "\nReads params: data.")
    p.add_argument("--domain", choices=("source", "target"), required=True)
    p.add_argument("--out", type=Path, required=True, help="output folder (prepared dataset)")
    run_stage(main, p.parse_args())
