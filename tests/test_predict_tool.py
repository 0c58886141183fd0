"""advent-predict (advent/apply.py): a self-describing model file applied to images of
mixed sizes, every output at its image's own size and equal to direct inference, the
entropy ranking, reruns that skip what is done, and refusals that name the culprit."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from advent.apply import predict_images
from advent.data.labels import colorize, custom_protocol
from advent.losses import entropy_map, upsample
from advent.models import ModelConfig, build_segmenter
from advent.snapshot import load_segmenter, save_segmenter, save_skipped
from advent.tools.predict import main
from tests.stage_runs import assert_one_clean_line, run_tool

CPU = torch.device("cpu")
PROTOCOL = custom_protocol("mine", ("floor", "wall", "thing"), [(9, 9, 9), (90, 90, 90), (200, 0, 0)])
INPUT = (16, 32)
SIZES = {"wide": (30, 90), "small": (12, 20), "exact": (16, 32), "tall": (48, 24)}


def _model(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    cfg = ModelConfig(width=4)
    save_segmenter(path, build_segmenter(cfg, 3), cfg, PROTOCOL, input_size=INPUT)
    return path


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    for i, (stem, (h, w)) in enumerate(SIZES.items()):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
            folder / f"{stem}.{'jpg' if i % 2 else 'png'}")
    return folder


def test_outputs_have_each_images_size_and_match_direct_inference(tmp_path, images):
    model = _model(tmp_path / "model.pt", 0)
    rows = predict_images(model, [images], tmp_path / "out", CPU, batch_size=3, overlay=True,
                          progress=False)
    segmenter = load_segmenter(model)[0]
    for stem, (h, w) in SIZES.items():
        path = next(images.glob(f"{stem}.*"))
        image = np.asarray(Image.open(path).convert("RGB"))
        resized = np.asarray(Image.fromarray(image).resize(INPUT[::-1], Image.BICUBIC))
        with torch.no_grad():
            main_logits, _ = segmenter(torch.from_numpy(resized.copy()).permute(2, 0, 1)[None])
        logits = upsample(main_logits, (h, w))
        labels = np.asarray(Image.open(tmp_path / "out/labels" / f"{stem}.png"))
        assert labels.shape == (h, w)
        np.testing.assert_array_equal(labels, logits.argmax(1)[0].numpy())
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out/color" / f"{stem}.png")),
                                      colorize(labels, PROTOCOL))
        entropy = np.asarray(Image.open(tmp_path / "out/entropy" / f"{stem}.png"))
        assert entropy.shape == (h, w)
        assert np.abs(entropy / 255 - entropy_map(logits)[0].numpy()).max() <= 0.5 / 255 + 1e-4
        assert np.asarray(Image.open(tmp_path / "out/overlay" / f"{stem}.png")).shape == (h, w, 3)
        record = json.loads((tmp_path / "out/records" / f"{stem}.json").read_text())
        assert record["width"] == w and record["height"] == h
        assert sum(record["class_fractions"].values()) == pytest.approx(1.0)
    entropies = [r["mean_entropy"] for r in rows]
    assert entropies == sorted(entropies, reverse=True) and [r["rank"] for r in rows] == [1, 2, 3, 4]
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    assert summary["classes"] == ["floor", "wall", "thing"] and summary["input_size"] == list(INPUT)
    csv = (tmp_path / "out/summary.csv").read_text().splitlines()
    assert csv[0] == "rank,image,width,height,mean_entropy,floor,wall,thing" and len(csv) == 5


def test_a_rerun_skips_images_done_with_the_same_model_file(tmp_path, images):
    model = _model(tmp_path / "model.pt", 0)
    out = tmp_path / "out"
    predict_images(model, [images], out, CPU, progress=False)
    stamp = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    (out / "records/small.json").unlink()  # as if interrupted before its record was written
    predict_images(model, [images], out, CPU, progress=False)
    redone = {p for p in stamp if p.stat().st_mtime_ns != stamp[p]}
    assert redone == {out / sub / "small.png" for sub in ("labels", "color", "entropy")}
    _model(model, 1)  # another model in the same file: everything again
    predict_images(model, [images], out, CPU, progress=False)
    assert all(p.stat().st_mtime_ns != stamp[p] for p in stamp)
    assert not list(out.rglob("*.tmp"))


@pytest.mark.parametrize("case, culprit", [
    ("json", "model.pt: not a readable advent-model-v1 model file: a JSON text"),
    ("skipped", "holds no model: its stage was skipped (no target labels)"),
    ("old", "does not record input_size"),
    ("stems", "share the file stem 'wide'"),
    ("empty", "no images (.png, .jpg, .jpeg) in"),
    ("device", "--device must be auto, cpu, cuda or cuda:N, got 'gpu'"),
])
def test_predict_refuses_bad_input_in_one_line(tmp_path, images, case, culprit):
    model = _model(tmp_path / "model.pt", 0)
    inputs, device = [images], "cpu"
    if case == "json":
        model.write_text('{"format": "advent-model-v1"}')
    elif case == "skipped":
        save_skipped(model, "no target labels")
    elif case == "old":
        data = torch.load(model, weights_only=True)
        del data["input_size"]
        torch.save(data, model)
    elif case == "stems":
        (tmp_path / "more").mkdir()
        Image.new("RGB", (4, 4)).save(tmp_path / "more/wide.png")
        inputs = [images, tmp_path / "more"]
    elif case == "empty":
        (tmp_path / "none").mkdir()
        inputs = [tmp_path / "none"]
    elif case == "device":
        device = "gpu"
    run = run_tool(main, "--model", model, "--out", tmp_path / "out", "--quiet", "--device", device,
                   *inputs)
    assert_one_clean_line(run, culprit)
    assert run.status == 1 and not (tmp_path / "out").exists()
