"""The entropy ranking's figure (stage rank): the histogram of image scores with the
easy / hard split marked, and the easiest and hardest images beside their entropy maps.

Self-contained (matplotlib's Agg canvas, no pyplot), so the rank stage does not rerun
when the report's other figures change.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from advent.io import atomic_path

#: The report's entropy colormap (advent.report.plots), on the fixed range [0, 1].
ENTROPY_CMAP = "inferno"


def plot_ranking(scores: Sequence[float], n_easy: int, examples: Sequence[Mapping],
                 out_png: str | os.PathLike, title: str = "Entropy ranking of target train") -> Path:
    """``scores`` ascending (N,), the first ``n_easy`` easy; ``examples`` as from
    :func:`advent.ranking.entropy_examples` (``id``, ``score``, ``split``, ``image`` (H, W, 3)
    uint8, ``entropy`` (H, W) in [0, 1]), drawn one per row, image then entropy map."""
    scores = np.asarray(scores, dtype=np.float64)
    if not 0 < n_easy < len(scores):
        raise ValueError(f"ranking figure: {n_easy} easy images of {len(scores)}")
    rows = max(len(examples), 1)
    fig = Figure(figsize=(9.0, 2.2 + 1.4 * rows), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[2.2, 1.4 * rows])
    ax = top.subplots()
    bins = np.linspace(scores.min(), scores.max() + 1e-12, min(40, max(len(scores) // 4, 5)) + 1)
    ax.hist(scores[:n_easy], bins=bins, color="tab:green", label=f"easy ({n_easy})")
    ax.hist(scores[n_easy:], bins=bins, color="tab:red", label=f"hard ({len(scores) - n_easy})")
    cut = (scores[n_easy - 1] + scores[n_easy]) / 2
    ax.axvline(cut, color="black", linestyle="--", label=f"split at {cut:.4f}")
    ax.set_xlabel("image score (mean normalised entropy)")
    ax.set_ylabel("images")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    if examples:
        axes = bottom.subplots(len(examples), 2, squeeze=False)
        artist = None
        for r, ex in enumerate(examples):
            axes[r, 0].imshow(np.asarray(ex["image"]))
            artist = axes[r, 1].imshow(np.asarray(ex["entropy"], dtype=np.float32),
                                       cmap=ENTROPY_CMAP, vmin=0.0, vmax=1.0)
            axes[r, 0].set_ylabel(f"{ex['split']}\n{ex['id']}\n{ex['score']:.4f}", fontsize=7)
            for a in axes[r]:
                a.set_xticks([])
                a.set_yticks([])
        axes[0, 0].set_title("image", fontsize=9)
        axes[0, 1].set_title("entropy map", fontsize=9)
        bottom.colorbar(artist, ax=axes[:, 1].tolist(), fraction=0.05, label="normalised entropy")
    out = Path(out_png)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return out
