"""Writing the prepared datasets of the procedural benchmark (the ``prepare`` stage).

``meta.json`` records the generator under ``"generator"``; its ``"module"`` entry is the
fixed name :data:`GENERATOR_MODULE`, not this file's ``__name__``, so the prepared data
(and every DVC stage downstream of them) do not change when the code moves.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from advent.data.synthetic.sample import GENERATOR_VERSION, generate_sample
from advent.data.synthetic.style import DOMAIN_CODE, domain_params
from advent.params import SyntheticConfig

#: The generator's name in meta.json: the package that holds it.
GENERATOR_MODULE = "advent.data.synthetic"

#: Index offset of each split: RNG streams (hence images) never repeat across splits.
SPLIT_OFFSETS: dict[str, int] = {"train": 0, "val": 1_000_000, "test": 2_000_000}


def _encoded_sample(args: tuple[int, int, str, int, int, float]) -> tuple[bytes, bytes]:
    from advent.data.prepared import encode_png  # lazy: it imports torch
    image, label = generate_sample(*args)
    return encode_png(image), encode_png(label)


def prepare_synthetic(cfg: SyntheticConfig, domain: str, out_root: Path, workers: int = 1) -> None:
    """Write the prepared dataset of ``domain`` into the folder ``out_root`` (atomically).

    Source: split ``train``; target: ``train``, ``val``, ``test``. Sample ids are the
    generator indices (``train`` from 0, ``val`` from 1e6, ``test`` from 2e6), so no
    image is shared between splits. ``meta.json`` records the generator version, the
    config and the effective layout/style under ``"generator"``. ``workers > 1``
    generates in a spawned process pool (output identical to ``workers = 1``; call it
    from an importable script with an ``if __name__ == "__main__"`` guard).
    """
    # Lazy: advent.data.prepared imports torch; the generator needs only numpy + Pillow.
    from advent.data.prepared import PreparedWriter

    cfg.validate()
    if domain not in DOMAIN_CODE:
        raise ValueError(f"domain must be 'source' or 'target', got {domain!r}")
    lay, style = domain_params(domain, cfg.gap)  # type: ignore[arg-type]
    splits = cfg.splits(domain)  # type: ignore[arg-type]
    meta = {"generator": {
        "module": GENERATOR_MODULE, "version": GENERATOR_VERSION, "domain": domain,
        "config": dataclasses.asdict(cfg),
        "split_index_offsets": {s: SPLIT_OFFSETS[s] for s in splits},
        "layout": dataclasses.asdict(lay), "style": dataclasses.asdict(style),
    }}
    jobs = [(split, SPLIT_OFFSETS[split] + i) for split, n in splits.items() for i in range(n)]
    args = [(cfg.seed, idx, domain, cfg.height, cfg.width, cfg.gap) for _, idx in jobs]
    with PreparedWriter(out_root, f"synthetic-{domain}", "cityscapes19", (cfg.height, cfg.width),
                        extra_meta=meta) as writer:
        if workers > 1:
            import multiprocessing as mp
            with mp.get_context("spawn").Pool(workers) as pool:
                encoded = pool.imap(_encoded_sample, args, chunksize=16)
                for (split, idx), (img, lab) in zip(jobs, encoded):
                    writer.add_encoded(split, f"{idx:07d}", img, lab)
        else:
            for (split, idx), a in zip(jobs, args):
                writer.add_encoded(split, f"{idx:07d}", *_encoded_sample(a))
