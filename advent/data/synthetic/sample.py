"""One benchmark sample as a pure function of ``(seed, domain, index, height, width, gap)``.

The seed, domain and index seed two independent random streams, one for the layout
(:mod:`~advent.data.synthetic.layout`) and one for the painting
(:mod:`~advent.data.synthetic.render`), so changing the style never moves objects.
"""
from __future__ import annotations

import numpy as np

from advent.data.synthetic.canvas import SceneLayout
from advent.data.synthetic.layout import draw_scene
from advent.data.synthetic.render import render
from advent.data.synthetic.style import DOMAIN_CODE, Domain, check_domain_gap, domain_params

#: Bumped whenever the same arguments would produce different pixels.
GENERATOR_VERSION = 1


def rngs(seed: int, index: int, domain: Domain) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent layout and render streams: changing the style never moves objects."""
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be non-negative, got {seed}, {index}")
    seq = np.random.SeedSequence([seed, DOMAIN_CODE[domain], index])
    a, b = seq.spawn(2)
    return np.random.default_rng(a), np.random.default_rng(b)


def generate_layout(seed: int, index: int, domain: Domain, height: int, width: int,
                    gap: float = 1.0) -> SceneLayout:
    """Draw the label geometry of one sample (no colours). See :func:`generate_sample`."""
    check_domain_gap(domain, gap)
    if height < 8 or width < 8:
        raise ValueError(f"image size must be at least 8x8, got {height}x{width}")
    lay, _ = domain_params(domain, gap)
    layout_rng, _ = rngs(seed, index, domain)
    return draw_scene(layout_rng, lay, height, width).to_layout()


def generate_sample(seed: int, index: int, domain: Domain, height: int, width: int,
                    gap: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """One benchmark sample: ``(image, label)``.

    image: (H, W, 3) uint8 RGB; label: (H, W) uint8 Cityscapes train ids (255 = ignore).
    A pure function of its arguments (the RNG is seeded from ``(seed, domain, index)``),
    so samples can be generated in any order or in parallel. ``gap`` in [0, 2] scales the
    target's departure from the source in both style and layout; the source ignores it.
    """
    layout = generate_layout(seed, index, domain, height, width, gap)
    _, style = domain_params(domain, gap)
    _, render_rng = rngs(seed, index, domain)
    return render(layout, style, render_rng), layout.label
