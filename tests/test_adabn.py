"""AdaBN (advent.adabn): source-only's model file and snapshots with BN statistics
re-estimated on target train, weights untouched."""
from pathlib import Path

import numpy as np
import pytest
import torch

import advent.adabn
from advent.adabn import write_adabn
from advent.data.prepared import PreparedDataset, PreparedWriter
from advent.models import ModelConfig, build_segmenter
from advent.predict import reestimate_bn_statistics
from advent.snapshot import load_segmenter, read_model_file, save_segmenter, skipped_reason

SIZE = (16, 32)
CPU = torch.device("cpu")


def _target(root: Path) -> Path:
    rng = np.random.default_rng(0)
    with PreparedWriter(root, "toy", "cityscapes19", SIZE) as writer:
        for i in range(6):
            # brighter than an untrained BN's zero-mean / unit-variance statistics assume
            image = rng.integers(128, 256, (*SIZE, 3), dtype=np.uint8)
            writer.add("train", f"train{i:03d}", image, rng.integers(0, 19, SIZE).astype(np.uint8))
    return root


def _model(path: Path, seed: int, iteration: int) -> None:
    torch.manual_seed(seed)
    cfg = ModelConfig(width=4)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_segmenter(path, build_segmenter(cfg, 19), cfg, "cityscapes19",
                   info={"method": "source_only", "iteration": iteration, "seed": seed},
                   input_size=SIZE)


@pytest.fixture()
def world(tmp_path):
    so = tmp_path / "source_only"
    for seed, iteration in ((1, 10), (2, 20)):
        _model(so / "snapshots" / f"iter_{iteration:06d}.pt", seed, iteration)
    _model(so / "model.pt", 0, 30)
    return {"model": so / "model.pt", "target": PreparedDataset(_target(tmp_path / "target"), "train"),
            "out": tmp_path / "adabn"}


def _is_bn_statistic(key: str) -> bool:
    return key.endswith(("running_mean", "running_var", "num_batches_tracked"))


def test_every_model_file_gets_target_statistics_and_keeps_its_weights(world):
    stale = world["out"] / "snapshots" / "iter_000999.pt"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"from an earlier run")
    written = write_adabn(world["model"], world["target"], world["out"], CPU, batch_size=2)
    so = world["model"].parent
    pairs = [(so / "snapshots" / "iter_000010.pt", world["out"] / "snapshots" / "iter_000010.pt"),
             (so / "snapshots" / "iter_000020.pt", world["out"] / "snapshots" / "iter_000020.pt"),
             (so / "model.pt", world["out"] / "model.pt")]
    assert written == [dst for _, dst in pairs]
    assert not stale.exists()  # the snapshots folder is replaced whole
    for src, dst in pairs:
        original, _ = load_segmenter(src)
        expected = reestimate_bn_statistics(original, world["target"], CPU, batch_size=2).net.state_dict()
        before, after = original.net.state_dict(), load_segmenter(dst)[0].net.state_dict()
        for key, value in after.items():
            if _is_bn_statistic(key):
                torch.testing.assert_close(value, expected[key])
            else:
                assert torch.equal(value, before[key]), key
        assert not torch.allclose(after["bn1.running_mean"], before["bn1.running_mean"])
        src_info, info = read_model_file(src)["info"], read_model_file(dst)["info"]
        assert info["method"] == "adabn" and info["adabn_of"] == str(src)
        assert info["iteration"] == src_info["iteration"] and info["bn_images"] == 6
        assert read_model_file(dst)["input_size"] == list(SIZE)


def test_a_network_without_batchnorm_gets_skipped_records(world, monkeypatch):
    monkeypatch.setattr(advent.adabn, "has_batchnorm", lambda model: False)
    for path in write_adabn(world["model"], world["target"], world["out"], CPU, batch_size=2):
        reason = skipped_reason(read_model_file(path, allow_skipped=True))
        assert reason and "no BatchNorm" in reason


def test_without_snapshots_only_the_model_file_is_adapted_and_the_folder_is_emptied(world):
    stale = world["out"] / "snapshots" / "iter_000010.pt"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"from a run that selected among snapshots")
    written = write_adabn(world["model"], world["target"], world["out"], CPU, batch_size=2,
                          snapshots=False)
    assert written == [world["out"] / "model.pt"]
    assert list((world["out"] / "snapshots").iterdir()) == []
