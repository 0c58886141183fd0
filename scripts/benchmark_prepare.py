"""Benchmark raw-dataset preparation and why the prepared form exists.

(a) prepare throughput (images/s) on a synthetic GTA5-format tree at GTA5 size
    (1914x1052 raw -> 1280x720 prepared), with 1 and N worker processes;
(b) loading one training sample from the prepared set (PreparedDataset.__getitem__)
    vs decoding + mapping + resizing the raw pair every time (the cost each epoch would
    pay without a prepare stage);
(c) `dvc status` time in a scratch git+dvc repo whose stage output is a prepared set of
    many tiny samples (tar shards) vs the same number of loose PNG files.

Everything happens in a temporary folder that is deleted afterwards. Prints one line per
figure and a JSON summary last.

    python scripts/benchmark_prepare.py                       # defaults: 40 images, 25k files
    python scripts/benchmark_prepare.py --n 8 --dvc-files 2000  # quick
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

import numpy as np
from PIL import Image

from advent.data.labels import CITYSCAPES_LABEL_ID_TO_TRAIN_ID, CITYSCAPES_PALETTE
from advent.data.layouts import list_gta5
from advent.data.prepared import PreparedDataset
from advent.data.raw import load_raw_sample, prepare


def synthetic_gta5(root: Path, n: int, hw: tuple[int, int], seed: int = 0) -> None:
    """GTA5-format tree: smooth, noisy RGB images and blocky palette labels (label ids)."""
    rng = np.random.default_rng(seed)
    h, w = hw
    palette = [(i, i, i) for i in range(256)]
    for label_id, train_id in CITYSCAPES_LABEL_ID_TO_TRAIN_ID.items():
        palette[label_id] = CITYSCAPES_PALETTE[train_id]
    flat_palette = [c for rgb in palette for c in rgb]
    ids = np.array(sorted(CITYSCAPES_LABEL_ID_TO_TRAIN_ID) + [0, 1, 4], dtype=np.uint8)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir(parents=True)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for i in range(1, n + 1):
        # gradients + 2x2-grain texture: ~2.2 MB per 1914x1052 PNG, about what a rendered
        # GTA5 frame weighs (pure per-pixel noise would double the size and decode time)
        base = np.stack([(xx * (1 + i % 3) + yy) % 256, (yy * 2 + i * 7) % 256,
                         (xx + yy * 0.5 + i * 13) % 256], axis=-1)
        grain = np.kron(rng.normal(0, 12, (h // 2 + 1, w // 2 + 1, 3)),
                        np.ones((2, 2, 1), np.float32))[:h, :w]
        image = np.clip(base + grain, 0, 255).astype(np.uint8)
        blocks = rng.choice(ids, (h // 32 + 1, w // 32 + 1))
        label = np.kron(blocks, np.ones((32, 32), np.uint8))[:h, :w]
        Image.fromarray(image).save(root / "images" / f"{i:05d}.png", compress_level=6)
        lab = Image.fromarray(label)
        lab.putpalette(flat_palette)
        lab.save(root / "labels" / f"{i:05d}.png")


def bench_prepare(tmp: Path, n: int, raw_hw, out_hw, workers: int) -> dict:
    raw = tmp / "gta5"
    t0 = time.perf_counter()
    synthetic_gta5(raw, n, raw_hw)
    build_s = time.perf_counter() - t0
    print(f"built {n} synthetic GTA5 pairs at {raw_hw[1]}x{raw_hw[0]} in {build_s:.1f}s",
          flush=True)
    sizes = [p.stat().st_size for p in (raw / "images").glob("*.png")]
    figures = {"n": n, "raw_size_hw": list(raw_hw), "out_size_hw": list(out_hw),
               "raw_png_mb": round(sum(sizes) / len(sizes) / 1e6, 2)}
    for w in sorted({1, workers}):
        out = tmp / f"prepared-w{w}"
        result = prepare("gta5", raw, out, out_hw, workers=w, progress=False)
        rate = n / result.seconds
        figures[f"prepare_images_per_s_workers{w}"] = round(rate, 2)
        print(f"(a) prepare {n} images -> {out_hw[1]}x{out_hw[0]}, workers={w}: "
              f"{result.seconds:.1f}s = {rate:.2f} images/s "
              f"(24,966 GTA5 images: ~{24966 / rate / 60:.0f} min)", flush=True)
    again = prepare("gta5", raw, tmp / f"prepared-w{workers}", out_hw, workers=workers,
                    progress=False)
    figures["rerun_unchanged_s"] = round(again.seconds, 3)
    print(f"(a) rerun on unchanged input: {again.seconds:.3f}s (skipped={again.skipped})")
    return figures


def bench_loading(tmp: Path, out_hw, workers: int) -> dict:
    raw = tmp / "gta5"
    samples = list_gta5(raw)
    figures = {}
    for fmt in ("png", "jpg"):
        out = tmp / f"prepared-w{workers}" if fmt == "png" else tmp / "prepared-jpg"
        if fmt == "jpg":
            prepare("gta5", raw, out, out_hw, workers=workers, image_format="jpg",
                    progress=False)
        ds = PreparedDataset(out, "train")
        ds[0]  # open handles, warm caches
        t0 = time.perf_counter()
        for i in range(len(ds)):
            ds[i]
        figures[f"prepared_{fmt}_ms"] = round(1000 * (time.perf_counter() - t0) / len(ds), 2)
    load_raw_sample("gta5", samples[0], out_hw)
    t0 = time.perf_counter()
    for s in samples:
        load_raw_sample("gta5", s, out_hw)
    figures["raw_decode_resize_ms"] = round(1000 * (time.perf_counter() - t0) / len(samples), 2)
    for fmt in ("png", "jpg"):
        ratio = figures["raw_decode_resize_ms"] / figures[f"prepared_{fmt}_ms"]
        figures[f"speedup_{fmt}"] = round(ratio, 2)
        print(f"(b) one training sample: prepared ({fmt}) {figures[f'prepared_{fmt}_ms']:.1f} ms "
              f"vs raw decode+resize {figures['raw_decode_resize_ms']:.1f} ms -> {ratio:.1f}x",
              flush=True)
    return figures


GEN = r'''
import sys
from pathlib import Path
import numpy as np
from PIL import Image
from advent.data.prepared import PreparedWriter, encode_png
kind, out, n = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
images = rng.integers(0, 256, (64, 8, 8, 3), dtype=np.uint8)
encoded = [encode_png(im) for im in images]
label = encode_png(np.zeros((8, 8), np.uint8))
if kind == "shards":
    with PreparedWriter(out, "bench", "cityscapes19", (8, 8)) as w:
        for i in range(n):
            w.add_encoded("train", f"{{i:06d}}", encoded[i % 64], label)
else:
    out.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (out / f"{{i:06d}}.png").write_bytes(encoded[i % 64])
'''


def _run(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - t0


def bench_dvc(tmp: Path, n_files: int) -> dict:
    dvc = [sys.executable, "-m", "dvc"]
    env_ok = shutil.which("git") is not None
    if not env_ok:
        print("(c) skipped: git not found")
        return {}
    figures = {"dvc_files": n_files}
    for kind in ("shards", "loose"):
        repo = tmp / f"dvc-{kind}"
        repo.mkdir()
        (repo / "gen.py").write_text(GEN.format(repo=str(REPO)))
        _run(["git", "init", "-q"], repo)
        _run(["git", "config", "user.email", "bench@example.invalid"], repo)
        _run(["git", "config", "user.name", "bench"], repo)
        _run(dvc + ["init", "-q"], repo)
        _run(dvc + ["config", "core.analytics", "false"], repo)
        (repo / "dvc.yaml").write_text(
            f"stages:\n  make:\n    cmd: {sys.executable} gen.py {kind} out {n_files}\n"
            f"    deps: [gen.py]\n    outs: [out]\n")
        repro = _run(dvc + ["repro", "-q"], repo)
        files = sum(1 for p in (repo / "out").rglob("*") if p.is_file())
        first = _run(dvc + ["status", "-q"], repo)
        second = _run(dvc + ["status", "-q"], repo)
        figures[f"{kind}_output_files"] = files
        figures[f"{kind}_repro_s"] = round(repro, 2)
        figures[f"{kind}_status_s"] = [round(first, 2), round(second, 2)]
        print(f"(c) {kind}: {n_files} samples as {files} files in the output; dvc repro "
              f"{repro:.1f}s, dvc status {first:.2f}s then {second:.2f}s", flush=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=40, help="synthetic GTA5 images (default 40)")
    parser.add_argument("--raw-size", nargs=2, type=int, default=(1052, 1914),
                        metavar=("H", "W"), help="raw size (default GTA5 1052 1914)")
    parser.add_argument("--size", nargs=2, type=int, default=(720, 1280), metavar=("H", "W"),
                        help="prepared size (default 720 1280)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="workers for the parallel run (default: all cores)")
    parser.add_argument("--dvc-files", type=int, default=25000,
                        help="samples in the dvc status test (default 25000; 0 = skip)")
    args = parser.parse_args(argv)
    summary: dict = {"cores": os.cpu_count(), "load_avg_1min_at_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="advent-bench-") as tmp:
        tmp = Path(tmp)
        summary.update(bench_prepare(tmp, args.n, tuple(args.raw_size), tuple(args.size),
                                     args.workers))
        summary.update(bench_loading(tmp, tuple(args.size), args.workers))
        if args.dvc_files:
            summary.update(bench_dvc(tmp, args.dvc_files))
    summary["load_avg_1min_at_end"] = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, 1-min load average "
          f"{summary['load_avg_1min_at_start']:.1f}"
          f" at start, {summary['load_avg_1min_at_end']:.1f} at end (shared machine)")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
