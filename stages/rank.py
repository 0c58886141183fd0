"""Rank target train by entropy and split it into easy and hard (IntraDA's first step,
see advent.ranking).

The scoring model is rank.models: one adapted model, or several averaged as an ensemble
(mean of upsampled logits), each models/<name>/model.pt under --models-dir; a model
trained on another label protocol is refused.

Writes a prepared dataset --out (split "easy": the easy images with their pseudo-labels,
rank.labels; split "hard": the hard images, unlabelled), the ranking --ranking (image
ids by ascending score, with their split), the DVC metrics --stats (per split its size,
mean score and the scoring model's mIoU; coverage and accuracy of argmax and
class-balanced labels on the easy split; both against the target train ground truth, a
diagnostic only) and the figure --figure.
Reads params: rank, train.{device,threads,cpu_capability}.
"""
from __future__ import annotations

from pathlib import Path

from advent.cli import run_stage, stage_parser
from advent.data.prepared import PreparedDataset
from advent.io import write_json
from advent.ranking import entropy_examples, rank_dataset
from advent.report.ranking_figure import plot_ranking
from advent.runtime import resolve_device
from advent.snapshot import load_for_inference

#: Easiest and hardest images drawn in the figure.
EXAMPLES = 3


def main(args, params) -> None:
    cfg = params.rank
    target = PreparedDataset(args.target, "train")
    paths = [args.models_dir / name / "model.pt" for name in cfg.models]
    models = [m for m, _ in load_for_inference(paths, target)]
    device = resolve_device(params.train.device)
    result = rank_dataset(models, target, args.out, cfg, device,
                          extra_meta={"models": [str(p) for p in paths]})
    ranking = result.ranking
    write_json(args.ranking, {"models": [str(p) for p in paths], "easy_fraction": cfg.easy_fraction,
                              "rare_class_normaliser": cfg.rare_class_normaliser,
                              "labels": cfg.labels, "easy": len(ranking.easy),
                              "hard": len(ranking.hard), "images": ranking.record()})
    write_json(args.stats, result.metrics())
    plot_ranking(ranking.scores, ranking.n_easy,
                 entropy_examples(models, target, ranking, EXAMPLES, device), args.figure,
                 title=f"Entropy ranking of target train by {' + '.join(cfg.models)} "
                       f"(easy_fraction {cfg.easy_fraction})")


if __name__ == "__main__":
    p = stage_parser(__doc__)
    p.add_argument("--models-dir", type=Path, default=Path("models"),
                   help="folder holding <name>/model.pt for each name in rank.models")
    p.add_argument("--target", type=Path, default=Path("data/prepared/target"))
    p.add_argument("--out", type=Path, default=Path("data/ranked"))
    p.add_argument("--ranking", type=Path, default=Path("metrics/rank/ranking.json"))
    p.add_argument("--stats", type=Path, default=Path("metrics/rank/rank.json"))
    p.add_argument("--figure", type=Path, default=Path("reports/ranking.png"))
    run_stage(main, p.parse_args(), computes=True)
