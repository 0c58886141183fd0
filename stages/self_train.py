"""Self-training on pseudo-labelled target train (plus labelled source when
self_train.lambda_source > 0), fine-tuning an adapted model (self_train.start_from;
dvc.yaml passes models/<start_from>/model.pt as --init). Reads params: model, train,
self_train."""
from __future__ import annotations

from pathlib import Path

from advent.cli import dvclive_logger, run_stage, stage_parser
from advent.data.prepared import PreparedDataset
from advent.pipeline import train_and_save


def main(args, params) -> None:
    source = PreparedDataset(args.source, "train")
    pseudo = PreparedDataset(args.pseudo, "train")
    train_and_save("self_train", params, params.self_train.iterations, source, pseudo,
                   args.out, init_model=args.init, log=dvclive_logger(args.live))


if __name__ == "__main__":
    p = stage_parser(__doc__)
    p.add_argument("--source", type=Path, default=Path("data/prepared/source"))
    p.add_argument("--pseudo", type=Path, default=Path("data/pseudo"))
    p.add_argument("--init", type=Path, required=True,
                   help="model to start from (dvc.yaml: models/<self_train.start_from>/model.pt)")
    p.add_argument("--out", type=Path, default=Path("models/self_train"))
    p.add_argument("--live", default="dvclive/self_train", help="DVCLive folder")
    run_stage(main, p.parse_args(), computes=True)
