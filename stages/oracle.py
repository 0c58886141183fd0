"""Oracle: supervised on the *target* train labels - the upper bound that
adaptation cannot reach without labels. Reads params: model, init, train, oracle."""
from __future__ import annotations

from pathlib import Path

from advent.cli import dvclive_logger, run_stage, stage_parser
from advent.data.prepared import PreparedDataset
from advent.pipeline import train_and_save


def main(args, params) -> None:
    target = PreparedDataset(args.target, "train")
    train_and_save("oracle", params, params.oracle.iterations, target, None,
                   args.out, log=dvclive_logger(args.live))


if __name__ == "__main__":
    p = stage_parser(__doc__)
    p.add_argument("--target", type=Path, default=Path("data/prepared/target"))
    p.add_argument("--out", type=Path, default=Path("models/oracle"))
    p.add_argument("--live", default="dvclive/oracle", help="DVCLive folder")
    run_stage(main, p.parse_args(), computes=True)
