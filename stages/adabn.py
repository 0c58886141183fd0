"""AdaBN: the source-only model with its BatchNorm statistics re-estimated on target
train (Li et al., 2016), its weights untouched; see advent.adabn. A reference row, not
an entropy method: its gain over source-only is the part of every adapted method's gain
that BN statistics alone give.

Writes <out>/model.pt and <out>/snapshots/iter_<N>.pt, the AdaBN copies of source-only's
model file and, unless evaluate.selection is "last", of its snapshots (model selection
chooses among them as among source-only's); a network without BatchNorm (VGG-16) gets
skipped records instead. Reads params: adabn, evaluate.selection,
train.{device,threads,cpu_capability}.
"""
from __future__ import annotations

from pathlib import Path

from advent.adabn import write_adabn
from advent.cli import run_stage, stage_parser
from advent.data.prepared import PreparedDataset
from advent.runtime import resolve_device


def main(args, params) -> None:
    write_adabn(args.init, PreparedDataset(args.target, "train"), args.out,
                resolve_device(params.train.device), params.adabn.batch_size,
                snapshots=params.evaluate.selection != "last")


if __name__ == "__main__":
    p = stage_parser(__doc__)
    p.add_argument("--init", type=Path, default=Path("models/source_only/model.pt"),
                   help="the source-only model file (its snapshots beside it, in snapshots/)")
    p.add_argument("--target", type=Path, default=Path("data/prepared/target"),
                   help="prepared target dataset: the statistics come from its train split")
    p.add_argument("--out", type=Path, default=Path("models/adabn"))
    run_stage(main, p.parse_args(), computes=True)
