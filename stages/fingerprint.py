"""Fingerprint what one domain is prepared from (its image and label files' paths, sizes
and mtimes, and its class map's bytes; see advent.data.inputs) into a small JSON file.

dvc.yaml runs this stage on every `dvc repro` (always_changed) and makes the prepare
stage depend on its output, so an edit to a raw folder or a class map reruns prepare
while unchanged data leave it alone. The procedural benchmark reads no file: its
fingerprint is constant. Reads params: data.
"""
from __future__ import annotations

from pathlib import Path

from advent.cli import run_stage, stage_parser
from advent.data.inputs import input_fingerprint
from advent.io import write_json


def main(args, params) -> None:
    write_json(args.out, input_fingerprint(params.data, args.domain))


if __name__ == "__main__":
    p = stage_parser(__doc__)
    p.add_argument("--domain", choices=("source", "target"), required=True)
    p.add_argument("--out", type=Path, required=True, help="output JSON file")
    run_stage(main, p.parse_args())
