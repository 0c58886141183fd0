"""Oracle: supervised on the *target* train labels - the upper bound that
adaptation cannot reach without labels. Without target train labels (your own target
images, unlabelled) it is skipped: it says so, and its model file is a skipped record
that evaluation and the report name. Reads params: model, init, train, oracle."""
from __future__ import annotations

import sys
from pathlib import Path

from advent.cli import dvclive_logger, run_stage, stage_parser
from advent.data.prepared import PreparedDataset
from advent.pipeline import skip_training, train_and_save


def main(args, params) -> None:
    target = PreparedDataset(args.target, "train")
    if not target.labelled:
        reason = f"no target labels: the target train images of {args.target} are unlabelled"
        skip_training(args.out, reason)
        Path(args.live).mkdir(parents=True, exist_ok=True)
        print(f"oracle: skipped: {reason} (the oracle trains on them: put their labels in "
              f"labels/ beside the target's images/)", file=sys.stderr)
        return
    train_and_save("oracle", params, params.oracle.iterations, target, None,
                   args.out, log=dvclive_logger(args.live))


if __name__ == "__main__":
    p = stage_parser(__doc__)
    p.add_argument("--target", type=Path, default=Path("data/prepared/target"))
    p.add_argument("--out", type=Path, default=Path("models/oracle"))
    p.add_argument("--live", default="dvclive/oracle", help="DVCLive folder")
    run_stage(main, p.parse_args(), computes=True)
