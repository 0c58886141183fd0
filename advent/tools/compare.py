"""Compare DVC experiments: plot one metric against one param, seeds as mean ± std.

Examples (from the repository root)::

    advent-compare --metric advent.test.mIoU --param adapt.advent.lambda_adv_main \\
        --group-by adapt.advent.iterations --out reports/compare.png
    dvc exp show --json > exps.json && advent-compare --from-json exps.json ...

Metric names are the keys of the headline metrics files, as `dvc exp show` prints them:
<method>.<split>.<metric> (e.g. minent.val.mIoU, self_train.test.ece) and
pseudo_label.coverage / pseudo_label.accuracy.

Writes the PNG and, beside it, a CSV (same name, ``.csv``) with the plotted points:
group/param values, mean, std, number of runs and the experiment names behind each point.
Not a pipeline stage (it reads experiments, not pipeline outputs): run it by hand.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from advent.cli import add_debug_flag, run_tool
from advent.io import atomic_path
from advent.report.compare import compare, load_exp_show, run_exp_show


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="advent-compare",
        description=(
            "Plot a metric against a parameter across DVC experiments (`dvc exp show --json`). "
            "Runs that share the param (and --group-by) values are treated as seeds and shown "
            "as mean ± sample std. Queued, running and failed experiments are skipped; the "
            "workspace row is skipped unless --include-workspace."
        ),
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--metric", required=True,
                   help="metric key as `dvc exp show` prints it, e.g. advent.test.mIoU "
                        "(or <metrics file>:<dotted key>, e.g. metrics/advent/test.json:advent.test.mIoU)")
    p.add_argument("--param", required=True,
                   help="param on the x axis, dotted key of params.yaml (e.g. adapt.advent.lambda_adv_main); "
                        "<file>:<key> for another params file")
    p.add_argument("--group-by", action="append", default=None, metavar="PARAM",
                   help="param whose values get separate lines (repeatable)")
    p.add_argument("--out", default="reports/compare.png", help="output PNG; the CSV is written beside it (default: reports/compare.png)")
    p.add_argument("--from-json", metavar="FILE", default=None,
                   help="read a saved `dvc exp show --json` dump instead of running dvc")
    p.add_argument("--repo", default=".", help="repository to run `dvc exp show --json` in (default: .)")
    p.add_argument("--all-commits", action="store_true", help="pass --all-commits to dvc exp show")
    p.add_argument("--include-workspace", action="store_true",
                   help="also count the workspace row (it often repeats the last experiment)")
    scale = p.add_mutually_exclusive_group()
    scale.add_argument("--logx", dest="logx", action="store_true", default=None, help="log-scale x axis")
    scale.add_argument("--linx", dest="logx", action="store_false", help="linear x axis (default: automatic)")
    add_debug_flag(p)
    return p


def run(argv: list[str] | None = None) -> int:
    """The tool itself: errors propagate (:func:`main` reports them)."""
    args = build_parser().parse_args(argv)
    exp_show = load_exp_show(args.from_json) if args.from_json else run_exp_show(args.repo, args.all_commits)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, agg = compare(
            exp_show, args.metric, args.param, args.out, group_by=args.group_by,
            include_workspace=args.include_workspace, logx=args.logx,
        )
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    csv_path = Path(args.out).with_suffix(".csv")
    with atomic_path(csv_path) as tmp:
        agg.to_csv(tmp, index=False)
    print(agg.to_string(index=False))
    print(f"wrote {args.out} and {csv_path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``advent-compare``: exit status 1 and one line on stderr on any failure."""
    return run_tool(run, argv, "advent-compare")


if __name__ == "__main__":
    sys.exit(main())
