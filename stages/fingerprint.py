"""Fingerprint an input of the pipeline into a small JSON file: what one domain is
prepared from (its image and label files' paths, sizes and mtimes, and its class map's
bytes; see advent.data.inputs), or the pretrained weights the training stages start from
(init.weights: its path and SHA-256).

dvc.yaml runs this stage on every `dvc repro` (always_changed) and makes the stages that
read the input depend on its output: an edit to a raw folder or a class map reruns
prepare, a new weights file at the same path reruns the trainings that start from it, and
unchanged inputs leave them alone. The procedural benchmark reads no file and random
init names none: their fingerprints are constant. Reads params: data, init.
"""
from __future__ import annotations

from pathlib import Path

from advent.cli import run_stage, stage_parser
from advent.data.inputs import input_fingerprint
from advent.io import weights_fingerprint, write_json


def main(args, params) -> None:
    if args.input == "init":
        write_json(args.out, weights_fingerprint(params.init.weights, "init.weights"))
    else:
        write_json(args.out, input_fingerprint(params.data, args.input))


if __name__ == "__main__":
    p = stage_parser(__doc__)
    p.add_argument("--input", choices=("source", "target", "init"), required=True,
                   help="a domain's data (source, target) or the pretrained weights (init)")
    p.add_argument("--out", type=Path, required=True, help="output JSON file")
    run_stage(main, p.parse_args())
