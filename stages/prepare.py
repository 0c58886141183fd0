"""Prepare one domain's dataset in the prepared form (data/prepared/<domain>)."""
from __future__ import annotations

from pathlib import Path

from _common import parser, run

from advent.data.synthetic import prepare_synthetic


def main(args, params) -> None:
    kind = getattr(params.data, args.domain)
    if kind == "synthetic":
        prepare_synthetic(params.data.synthetic, args.domain, args.out)
    else:
        raise ValueError(f"data.{args.domain}: unknown dataset {kind!r}")


if __name__ == "__main__":
    p = parser(__doc__ + "\nReads params: data.")
    p.add_argument("--domain", choices=("source", "target"), required=True)
    p.add_argument("--out", type=Path, required=True, help="output folder (prepared dataset)")
    run(main, p.parse_args())
