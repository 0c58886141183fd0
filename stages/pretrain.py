"""Source-only pre-training: supervised on labelled source, no target.

Writes <out>/model.pt (and <out>/resume.pt, the checkpoint an interrupted run
resumes from). Reads params: model, init, train, pretrain.
"""
from __future__ import annotations

from pathlib import Path

from advent.cli import dvclive_logger, run_stage, stage_parser
from advent.data.prepared import PreparedDataset
from advent.pipeline import train_and_save


def main(args, params) -> None:
    source = PreparedDataset(args.source, "train")
    train_and_save("source_only", params, params.pretrain.iterations, source, None,
                   args.out, log=dvclive_logger(args.live),
                   warmup_iterations=params.pretrain.warmup_iterations)


if __name__ == "__main__":
    p = stage_parser(__doc__)
    p.add_argument("--source", type=Path, default=Path("data/prepared/source"))
    p.add_argument("--out", type=Path, default=Path("models/source_only"))
    p.add_argument("--live", default="dvclive/source_only", help="DVCLive folder")
    run_stage(main, p.parse_args(), computes=True)
