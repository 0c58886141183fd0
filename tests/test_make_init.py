"""scripts/make_init.py: a backbone trained on a separate source sample, written in the
DeepLab ImageNet init layout that init.weights reads back; and the backbone export."""
import pytest
import torch

from advent.models import ModelConfig, build_segmenter
from advent.models.checkpoints import backbone_state_dict, load_pretrained
from tests.stage_runs import assert_one_clean_line, run_script, write_params


def test_backbone_export_loads_back_as_a_deeplab_imagenet_init(tmp_path):
    torch.manual_seed(0)
    trained = build_segmenter(ModelConfig(width=4), 19)
    exported = backbone_state_dict(trained)
    assert all(k.startswith("Scale.") for k in exported)
    assert not any(k.split(".")[1] in ("layer5", "layer6") for k in exported)  # no heads
    torch.save(exported, tmp_path / "init.pt")
    torch.manual_seed(1)
    fresh = build_segmenter(ModelConfig(width=4), 19)
    heads_before = {k: v.clone() for k, v in fresh.net.state_dict().items() if k.startswith(("layer5", "layer6"))}
    report = load_pretrained(fresh.net, tmp_path / "init.pt", "auto")
    assert report.layout == "deeplab_imagenet"
    for key, value in fresh.net.state_dict().items():
        if key in heads_before:
            assert torch.equal(value, heads_before[key]), key
        else:
            assert torch.equal(value, trained.net.state_dict()[key]), key


def test_make_init_writes_a_backbone_the_pipeline_can_start_from(tmp_path):
    params = write_params(tmp_path / "params.yaml")
    out = tmp_path / "init" / "backbone.pt"
    run = run_script("scripts/make_init.py", "--params", params, "--out", out,
                     "--images", "4", "--iterations", "2")
    assert run.status == 0, run.stderr
    assert "sha256" in run.stdout and out.is_file()
    report = load_pretrained(build_segmenter(ModelConfig(width=4), 19).net, out, "deeplab_imagenet")
    assert report.loaded and all(k.startswith(("layer5", "layer6")) for k in report.kept_init
                                 if not k.endswith("num_batches_tracked"))


def test_make_init_refuses_the_benchmarks_own_scenes(tmp_path):
    params = write_params(tmp_path / "params.yaml")
    out = tmp_path / "backbone.pt"
    run = run_script("scripts/make_init.py", "--params", params, "--out", out, "--scene-seed", "0")
    assert_one_clean_line(run, "--scene-seed 0", "data.synthetic.seed")
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["--iterations", "0"], "--iterations must be at least 1, got 0"),
    (["--images", "-5"], "--images must be at least 1, got -5"),
])
def test_make_init_refuses_counts_below_one_before_training(tmp_path, args, message):
    params = write_params(tmp_path / "params.yaml")
    out = tmp_path / "backbone.pt"
    run = run_script("scripts/make_init.py", "--params", params, "--out", out, *args)
    assert_one_clean_line(run, message)
    assert run.status == 2 and not out.exists()


def test_make_init_refuses_a_folder_as_out_and_keeps_it(tmp_path):
    params = write_params(tmp_path / "params.yaml")
    folder = tmp_path / "inits"
    folder.mkdir()
    (folder / "keep.txt").write_text("kept")
    run = run_script("scripts/make_init.py", "--params", params, "--out", folder)
    assert_one_clean_line(run, f"--out {folder} is a folder")
    assert (folder / "keep.txt").read_text() == "kept"
