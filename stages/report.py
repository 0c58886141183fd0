"""Comparison report: reports/results.md with the method table (target test, and
target val) and figures - per-class IoU bars, a qualitative grid (image / ground
truth / prediction + entropy per method on fixed test images), row-normalised
confusion matrices, reliability diagrams and entropy histograms on source vs target,
and the entropy ranking's split and labels
(see advent.report.results). Reads the evaluate stages' outputs; every method must
share one protocol and one model-selection rule.
"""
from __future__ import annotations

from pathlib import Path

from advent.cli import run_stage, stage_parser
from advent.report.results import METHODS, write_report


def main(args, params) -> None:
    write_report(args.metrics, args.out, args.methods, args.pseudo, args.rank)


if __name__ == "__main__":
    p = stage_parser(__doc__)
    p.add_argument("--metrics", type=Path, default=Path("metrics"),
                   help="folder holding <method>/details.json and samples.npz per method")
    p.add_argument("--pseudo", type=Path, default=Path("metrics/pseudo_label.json"),
                   help="the pseudo-label stage's metrics (its section is left out when absent)")
    p.add_argument("--rank", type=Path, default=Path("metrics/rank/rank.json"),
                   help="the rank stage's metrics (its section is left out when absent)")
    p.add_argument("--methods", nargs="+", default=list(METHODS))
    p.add_argument("--out", type=Path, default=Path("reports"))
    run_stage(main, p.parse_args())
