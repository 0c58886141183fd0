"""Entropy adaptation (MinEnt or AdvEnt): labelled source + unlabelled target train,
starting from init.weights (adapt.<method>.start_from: init) or from the source-only
model (start_from: source_only).
Reads params: model, train, init, adapt.<method>."""
from __future__ import annotations

from pathlib import Path

from advent.cli import dvclive_logger, run_stage, stage_parser
from advent.data.prepared import PreparedDataset
from advent.pipeline import train_and_save


def main(args, params) -> None:
    source = PreparedDataset(args.source, "train")
    target = PreparedDataset(args.target, "train")
    run = getattr(params.adapt, args.method)
    init = args.init if run.start_from == "source_only" else None
    train_and_save(args.method, params, run.iterations, source, target,
                   args.out or Path("models") / args.method, init_model=init,
                   log=dvclive_logger(args.live or f"dvclive/{args.method}"))


if __name__ == "__main__":
    p = stage_parser(__doc__)
    p.add_argument("--method", choices=("minent", "advent"), required=True)
    p.add_argument("--source", type=Path, default=Path("data/prepared/source"))
    p.add_argument("--target", type=Path, default=Path("data/prepared/target"))
    p.add_argument("--init", type=Path, default=Path("models/source_only/model.pt"),
                   help="model to start from when adapt.<method>.start_from is source_only "
                        "(default: the source-only model)")
    p.add_argument("--out", type=Path, help="output folder (default: models/<method>)")
    p.add_argument("--live", help="DVCLive folder (default: dvclive/<method>)")
    run_stage(main, p.parse_args(), computes=True)
