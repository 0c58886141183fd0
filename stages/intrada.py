"""Intra-domain adaptation (IntraDA's second step): the AdvEnt objective with the
intrada section's hyper-parameters, from the easy split of the ranked dataset (its
pseudo-labels as the labelled "source") to its hard split (the unlabelled "target").
With intrada.with_source, the source train split (--source) joins the easy split on the
labelled side. Starts from init.weights (intrada.start_from: init, as IntraDA) or
fine-tunes the adapted AdvEnt model (start_from: advent; dvc.yaml passes
models/advent/model.pt).
Reads params: model, init, train, intrada."""
from __future__ import annotations

from pathlib import Path

from advent.cli import dvclive_logger, run_stage, stage_parser
from advent.data.prepared import PreparedDataset, PreparedUnion
from advent.pipeline import train_and_save


def main(args, params) -> None:
    cfg = params.intrada
    labelled = easy = PreparedDataset(args.ranked, "easy")
    if cfg.with_source:
        labelled = PreparedUnion([PreparedDataset(args.source, "train"), easy])
    hard = PreparedDataset(args.ranked, "hard")
    init = args.init if cfg.start_from == "advent" else None
    train_and_save("intrada", params, cfg.iterations, labelled, hard, args.out, init_model=init,
                   log=dvclive_logger(args.live))


if __name__ == "__main__":
    p = stage_parser(__doc__)
    p.add_argument("--ranked", type=Path, default=Path("data/ranked"),
                   help="the rank stage's dataset (splits easy and hard)")
    p.add_argument("--source", type=Path, default=Path("data/prepared/source"),
                   help="labelled source dataset, read when intrada.with_source is true")
    p.add_argument("--init", type=Path, default=Path("models/advent/model.pt"),
                   help="model to start from when intrada.start_from is advent")
    p.add_argument("--out", type=Path, default=Path("models/intrada"))
    p.add_argument("--live", default="dvclive/intrada", help="DVCLive folder")
    run_stage(main, p.parse_args(), computes=True)
