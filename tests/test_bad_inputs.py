"""Bad input, as a new user meets it through the stage scripts and by-hand tools.

Every failing case checks the four promises of the README's "Reliability" paragraph: a
non-zero exit, no traceback, a last stderr line naming the culprit (file, key or value),
and nothing a later stage would trust left behind (resume checkpoints, snapshots and
training curves may stay). Stages run in this process (:func:`tests.stage_runs.run_script`)
unless the case needs a real process (its exit status, ``kill -9``, permissions).
"""
from __future__ import annotations

import ctypes
import json
import os
import pickle
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from advent.data.prepared import PreparedDataset
from advent.data.synthetic import prepare_synthetic
from advent.models import ModelConfig, build_segmenter
from advent.params import load_params
from advent.pipeline import train_and_save
from advent.snapshot import save_segmenter
from advent.tools import compare as compare_tool
from advent.tools import prepare_raw as prepare_raw_tool
from tests.fixtures_raw import make_gta5, write_huge_png
from tests.stage_runs import (
    ROOT, Run, assert_nothing_trusted_left, assert_one_clean_line, disk_full, file_state, process_env,
    run_process, run_script, run_tool, write_params,
)


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> SimpleNamespace:
    """Inputs every case reads (never writes): tiny params, both prepared domains and a
    source-only model trained for one iteration."""
    root = tmp_path_factory.mktemp("inputs")
    params_file = write_params(root / "params.yaml")
    params = load_params(params_file)
    for domain in ("source", "target"):
        prepare_synthetic(params.data.synthetic, domain, root / "prepared" / domain)
    source = PreparedDataset(root / "prepared/source", "train")
    train_and_save("source_only", params, 1, source, None, root / "models/source_only")
    return SimpleNamespace(root=root, params=params_file, source=root / "prepared/source",
                           target=root / "prepared/target",
                           model=root / "models/source_only/model.pt")


@pytest.fixture
def out(tmp_path, monkeypatch) -> SimpleNamespace:
    """An empty working folder (the current directory) and its state before the run."""
    monkeypatch.chdir(tmp_path)
    return SimpleNamespace(root=tmp_path, before=file_state(tmp_path))


def _pretrain(ws, out, *extra, params=None) -> Run:
    return run_script("stages/pretrain.py", "--params", params or ws.params, "--source", ws.source,
                      "--out", out.root / "models/source_only",
                      "--live", out.root / "dvclive/source_only", *extra)


def _evaluate(ws, out, *models: Path) -> Run:
    return run_script("stages/evaluate.py", "--params", ws.params, "--models", *models,
                      "--target", ws.target, "--source", ws.source,
                      "--out", out.root / "metrics/x")


class _RunsCode:
    """Unpickling this runs ``touch <marker>``: what a hostile model file would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


# ----------------------------------------------------------------------------- parameters

def test_negative_iterations_stop_the_stage_before_it_trains(ws, out):
    """The issue's first case, as a real process: its exit status and stderr exactly."""
    params = write_params(out.root / "params.yaml", **{"pretrain.iterations": -5})
    before = file_state(out.root)
    run = run_process("stages/pretrain.py", "--params", params, "--source", ws.source,
                      "--out", out.root / "models/source_only", "--live", out.root / "live",
                      cwd=out.root)
    assert_one_clean_line(run, "pretrain.iterations", "-5")
    assert run.status == 1 and "done" not in run.stderr
    assert_nothing_trusted_left(out.root, before)


def test_yaml_syntax_error_names_file_line_and_column(ws, out):
    text = (ROOT / "params.yaml").read_text().replace("  iterations: 600\n", "  iterations: [600\n", 1)
    line = text.splitlines().index("  iterations: [600") + 1
    (out.root / "params.yaml").write_text(text)
    out.before = file_state(out.root)
    run = run_script("stages/prepare.py", "--params", out.root / "params.yaml",
                     "--domain", "source", "--out", out.root / "prepared")
    # PyYAML notices at the colon of the next key and says where the list began.
    lines = text.splitlines()
    key_line = next(i for i in range(line, len(lines))
                    if lines[i].strip() and not lines[i].lstrip().startswith("#"))
    column = lines[key_line].index(":") + 1
    assert_one_clean_line(run, f"{out.root / 'params.yaml'}:{key_line + 1}:{column}: YAML syntax error",
                          f"flow sequence that starts at line {line}, column 15")
    assert_nothing_trusted_left(out.root, out.before)


@pytest.mark.parametrize("content, kind", [("- data\n- model\n", "a list"),
                                           ("", "empty"), ("# only a comment\n", "empty")])
def test_params_file_of_the_wrong_shape_is_refused_by_name(ws, out, content, kind):
    (out.root / "params.yaml").write_text(content)
    out.before = file_state(out.root)
    run = run_script("stages/prepare.py", "--params", out.root / "params.yaml",
                     "--domain", "source", "--out", out.root / "prepared")
    assert_one_clean_line(run, str(out.root / "params.yaml"), kind)
    assert_nothing_trusted_left(out.root, out.before)


@pytest.mark.parametrize("key, value", [
    ("train.batch_size", 0),
    ("train.lr", float("nan")),
    ("train.grad_accum", 3),            # does not divide batch_size 4
    ("pseudo_label.fraction", 0.0),
    ("adapt.advent.d_layers", 6),       # halves a 32-pixel side to nothing
    ("data.synthetic.height", 100_000),
])
def test_out_of_range_parameter_is_refused_by_key(ws, out, key, value):
    params = write_params(out.root / "params.yaml", **{key: value})
    out.before = file_state(out.root)
    run = _pretrain(ws, out, params=params)
    assert_one_clean_line(run, key)
    assert_nothing_trusted_left(out.root, out.before)


# ----------------------------------------------------------------------------- model files

def _truncated(path: Path, ws) -> None:
    data = ws.model.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _json(path: Path, ws) -> None:
    path.write_text(json.dumps({"mIoU": 42.0}))


def _empty(path: Path, ws) -> None:
    path.write_bytes(b"")


def _other_zip(path: Path, ws) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("weights/readme.txt", "not a model")


def _resume_checkpoint(path: Path, ws) -> None:
    path.write_bytes((ws.model.parent / "resume.pt").read_bytes())


def _bare_state_dict(path: Path, ws) -> None:
    torch.save(build_segmenter(ModelConfig(width=4), 19).net.state_dict(), path)


@pytest.mark.parametrize("make, says", [
    (_truncated, "truncated"), (_json, "a JSON text"), (_empty, "an empty file"),
    (_other_zip, "a zip archive of another format"),
    (_resume_checkpoint, "a training resume checkpoint"),
    (_bare_state_dict, "a dict with keys ['conv1.weight'"),
])
def test_evaluate_says_what_a_file_that_is_no_model_is(ws, out, make, says):
    bad = out.root / "model.pt"
    make(bad, ws)
    out.before = file_state(out.root)
    run = _evaluate(ws, out, bad)
    assert_one_clean_line(run, str(bad), says)
    assert_nothing_trusted_left(out.root, out.before)


@pytest.mark.parametrize("as_torch_file", [False, True], ids=["pickle", "torch-zip"])
def test_model_file_carrying_code_is_refused_and_not_run(ws, out, as_torch_file):
    marker = out.root / "code-ran"
    bad = out.root / "model.pt"
    if as_torch_file:
        torch.save(_RunsCode(marker), bad)
    else:
        bad.write_bytes(pickle.dumps(_RunsCode(marker)))
    out.before = file_state(out.root)
    run = _evaluate(ws, out, bad)
    assert_one_clean_line(run, str(bad), "would call", "system", "nothing was run")
    assert not marker.exists()
    assert_nothing_trusted_left(out.root, out.before)


def _protocol_models(folder: Path, protocol: str = "synthia16") -> list[Path]:
    cfg = ModelConfig(width=4)
    paths = []
    for name in ("minent", "advent"):
        path = folder / name / "model.pt"
        save_segmenter(path, build_segmenter(cfg, 16), cfg, protocol)
        paths.append(path)
    return paths


def test_evaluate_refuses_a_model_of_another_protocol(ws, out):
    model = _protocol_models(out.root / "models")[0]
    out.before = file_state(out.root)
    run = _evaluate(ws, out, model)
    assert_one_clean_line(run, str(model), "synthia16", "cityscapes19")
    assert_nothing_trusted_left(out.root, out.before)


def test_pseudo_labelling_refuses_a_model_of_another_protocol(ws, out):
    _protocol_models(out.root / "models")
    out.before = file_state(out.root)
    run = run_script("stages/pseudo_label.py", "--params", ws.params, "--models-dir",
                     out.root / "models", "--target", ws.target, "--out", out.root / "pseudo",
                     "--stats", out.root / "metrics/pseudo_label.json")
    first = load_params(ws.params).pseudo_label.models[0]
    assert_one_clean_line(run, str(out.root / f"models/{first}/model.pt"), "synthia16", "cityscapes19")
    assert_nothing_trusted_left(out.root, out.before)


def test_self_training_refuses_a_start_model_of_another_protocol(ws, out):
    model = _protocol_models(out.root / "models")[0]
    out.before = file_state(out.root)
    run = run_script("stages/self_train.py", "--params", ws.params, "--source", ws.source,
                     "--pseudo", ws.target, "--init", model, "--out", out.root / "models/self_train",
                     "--live", out.root / "dvclive/self_train")
    assert_one_clean_line(run, str(model), "synthia16")
    assert_nothing_trusted_left(out.root, out.before)


def _rank(ws, out, models_dir: Path, params: Path | None = None) -> Run:
    return run_script("stages/rank.py", "--params", params or ws.params, "--models-dir", models_dir,
                      "--target", ws.target, "--out", out.root / "ranked",
                      "--ranking", out.root / "metrics/rank/ranking.json",
                      "--stats", out.root / "metrics/rank/rank.json",
                      "--figure", out.root / "reports/ranking.png")


def test_ranking_refuses_a_model_of_another_protocol(ws, out):
    _protocol_models(out.root / "models")
    out.before = file_state(out.root)
    run = _rank(ws, out, out.root / "models")
    assert_one_clean_line(run, str(out.root / "models/advent/model.pt"), "synthia16", "cityscapes19")
    assert_nothing_trusted_left(out.root, out.before)


@pytest.mark.parametrize("fraction", [0.1, 0.12])
def test_ranking_refuses_an_easy_fraction_that_empties_a_split(ws, out, fraction):
    """8 target-train images: floor(0.1 x 8) = floor(0.12 x 8) = 0 easy images."""
    (out.root / "models/advent").mkdir(parents=True)
    (out.root / "models/advent/model.pt").write_bytes(ws.model.read_bytes())
    params = write_params(out.root / "params.yaml", **{"rank.easy_fraction": fraction})
    out.before = file_state(out.root)
    run = _rank(ws, out, out.root / "models", params)
    assert_one_clean_line(run, f"rank.easy_fraction {fraction}", "easy split empty",
                          "8 target-train images")
    assert_nothing_trusted_left(out.root, out.before)


# ----------------------------------------------------------------------------- training inputs

def test_missing_init_weights_name_the_key(ws, out):
    params = write_params(out.root / "params.yaml", **{"init.weights": "weights/imagenet.pth"})
    out.before = file_state(out.root)
    run = _pretrain(ws, out, params=params)
    assert_one_clean_line(run, "init.weights", "weights/imagenet.pth")
    assert_nothing_trusted_left(out.root, out.before)


def test_init_weights_carrying_code_are_refused_and_not_run(ws, out):
    marker = out.root / "code-ran"
    weights = out.root / "init.pth"
    torch.save({"conv1.weight": _RunsCode(marker)}, weights)
    params = write_params(out.root / "params.yaml", **{"init.weights": str(weights)})
    out.before = file_state(out.root)
    run = _pretrain(ws, out, params=params)
    assert_one_clean_line(run, str(weights), "would call", "nothing was run")
    assert not marker.exists()
    assert_nothing_trusted_left(out.root, out.before)


def test_truncated_resume_checkpoint_is_named_not_trusted(ws, out):
    resume = out.root / "models/source_only/resume.pt"
    resume.parent.mkdir(parents=True)
    data = (ws.model.parent / "resume.pt").read_bytes()
    resume.write_bytes(data[: len(data) // 3])
    out.before = file_state(out.root)
    run = _pretrain(ws, out)
    assert_one_clean_line(run, str(resume), "truncated", "delete it")
    assert_nothing_trusted_left(out.root, out.before)


def _copy_prepared(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_prepared_dataset_with_a_missing_shard_is_named(ws, out):
    source = _copy_prepared(ws.source, out.root / "prepared/source")
    (source / "train-00000.tar").unlink()
    out.before = file_state(out.root)
    run = run_script("stages/pretrain.py", "--params", ws.params, "--source", source,
                     "--out", out.root / "models/source_only", "--live", out.root / "live")
    assert_one_clean_line(run, "missing shard", str(source / "train-00000.tar"))
    assert_nothing_trusted_left(out.root, out.before)


def test_prepared_dataset_with_a_malformed_meta_json_is_named(ws, out):
    source = _copy_prepared(ws.source, out.root / "prepared/source")
    meta = json.loads((source / "meta.json").read_text())
    meta["splits"]["train"] = ["train-00000.tar"]  # a list, not {"count", "shards"}
    (source / "meta.json").write_text(json.dumps(meta))
    out.before = file_state(out.root)
    run = run_script("stages/pretrain.py", "--params", ws.params, "--source", source,
                     "--out", out.root / "models/source_only", "--live", out.root / "live")
    assert_one_clean_line(run, str(source / "meta.json"), "splits.train")
    assert_nothing_trusted_left(out.root, out.before)


# ----------------------------------------------------------------------------- writing outputs

def test_disk_full_while_preparing_names_the_output(ws, out):
    target = out.root / "prepared/source"
    with disk_full(lambda path: path.suffix == ".tar", free=2000):
        run = run_script("stages/prepare.py", "--params", ws.params, "--domain", "source",
                         "--out", target)
    assert_one_clean_line(run, f"no space left on device while writing {target}")
    assert not target.exists()
    assert_nothing_trusted_left(out.root, out.before)


def test_disk_full_while_saving_the_model_names_the_model_file(ws, out):
    model = out.root / "models/source_only/model.pt"
    with disk_full(lambda path: path.name == "model.pt", free=1000):
        run = _pretrain(ws, out)
    assert_one_clean_line(run, f"no space left on device while writing {model}")
    assert not model.exists() and (model.parent / "resume.pt").is_file()
    assert_nothing_trusted_left(out.root, out.before)


def test_disk_full_while_writing_metrics_leaves_none_of_them(ws, out):
    metrics = out.root / "metrics/x"
    with disk_full(lambda path: path.name == "samples.npz", free=100):
        run = _evaluate(ws, out, ws.model)
    assert_one_clean_line(run, f"no space left on device while writing {metrics}")
    assert not metrics.exists()  # not test.json without the rest
    assert_nothing_trusted_left(out.root, out.before)


def _without_root_powers() -> None:
    """Run as root but without the capabilities that ignore file permissions (in the
    child only: dropped from its bounding set before exec)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_read_only_output_folder_is_named(ws, out):
    folder = out.root / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    out.before = file_state(out.root)
    as_root = os.geteuid() == 0
    try:
        run = run_process("stages/prepare.py", "--params", ws.params, "--domain", "source",
                          "--out", folder / "source", cwd=out.root,
                          preexec_fn=_without_root_powers if as_root else None)
    except subprocess.SubprocessError as err:  # no CAP_SETPCAP to drop root's powers
        pytest.skip(f"cannot run without root's file powers here: {err}")
    finally:
        folder.chmod(0o755)
    assert_one_clean_line(run, f"permission denied: {folder}")
    assert_nothing_trusted_left(out.root, out.before)


# ----------------------------------------------------------------------------- raw data and tools

def test_huge_raw_image_is_refused_before_decoding(out):
    raw = out.root / "gta5"
    make_gta5(raw, n=2)
    huge = sorted((raw / "images").iterdir())[0]
    write_huge_png(huge, 20_000, 20_000)
    out.before = file_state(out.root)
    run = run_tool(prepare_raw_tool.main, "--dataset", "gta5", "--raw-root", raw,
                   "--out", out.root / "prepared", "--image-size", "16", "16",
                   "--workers", "1", "--quiet")
    assert_one_clean_line(run, str(huge), "400000000 pixels", "refused before decoding")
    assert_nothing_trusted_left(out.root, out.before)


def test_prepare_raw_says_a_raw_root_is_a_file_not_a_folder(out):
    raw = out.root / "gta5.zip"
    raw.write_bytes(b"PK\x05\x06" + bytes(18))
    out.before = file_state(out.root)
    run = run_tool(prepare_raw_tool.main, "--dataset", "gta5", "--raw-root", raw,
                   "--out", out.root / "prepared", "--image-size", "16", "16", "--quiet")
    assert_one_clean_line(run, str(raw), "is a file, not a folder")
    assert_nothing_trusted_left(out.root, out.before)


def test_a_folder_given_as_the_params_file_is_named(ws, out):
    folder = out.root / "params"
    folder.mkdir()
    out.before = file_state(out.root)
    run = _pretrain(ws, out, params=folder)
    assert_one_clean_line(run, f"parameter file {folder} is a folder, not a file")
    assert_nothing_trusted_left(out.root, out.before)


def test_compare_names_a_dump_that_is_not_json(out):
    dump = out.root / "exps.json"
    dump.write_text("not json {")
    out.before = file_state(out.root)
    run = run_tool(compare_tool.main, "--from-json", dump, "--metric", "mIoU",
                   "--param", "train.seed", "--out", out.root / "compare.png")
    assert_one_clean_line(run, str(dump), "not valid JSON")
    assert_nothing_trusted_left(out.root, out.before)


def test_use_preset_names_the_broken_line_of_a_preset(out):
    presets = out.root / "presets"
    presets.mkdir()
    (presets / "broken.yaml").write_text("train:\n  lr: [0.1\n  seed: 0\n")
    params = out.root / "params.yaml"
    params.write_text((ROOT / "params.yaml").read_text())
    out.before = file_state(out.root)
    run = run_script("scripts/use_preset.py", "broken", "--params", params, "--presets", presets)
    assert_one_clean_line(run, f"{presets / 'broken.yaml'}:3:", "YAML syntax error")
    assert_nothing_trusted_left(out.root, out.before)


# ----------------------------------------------------------------------------- the traceback, on request

def test_debug_flag_and_environment_give_the_traceback(ws, out, monkeypatch):
    params = write_params(out.root / "params.yaml", **{"train.batch_size": 0})
    run = _pretrain(ws, out, "--debug", params=params)
    assert run.status is None and "ConfigError: train.batch_size" in run.stderr
    monkeypatch.setenv("ADVENT_DEBUG", "1")
    run = _pretrain(ws, out, params=params)
    assert run.status is None and "Traceback" in run.stderr


# ----------------------------------------------------------------------------- interruptions

def _kill_when(proc: subprocess.Popen, ready, timeout: float = 120.0) -> None:
    """SIGKILL ``proc`` as soon as ``ready()`` holds; fails if it ended first."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, f"ended before it could be killed:\n{proc.stderr.read()}"
        assert time.monotonic() < deadline, "never got there"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _spawn(script: str, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / script), *map(str, args)],
                            env=process_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_prepare_killed_midway_then_rerun_gives_the_uninterrupted_data(out):
    # Large enough images that generation takes a second or two after the imports.
    params = write_params(out.root / "params.yaml", **{"data.synthetic.height": 128,
                                                       "data.synthetic.width": 256,
                                                       "data.synthetic.source_train": 100})
    killed = out.root / "killed" / "source"
    proc = _spawn("stages/prepare.py", "--params", params, "--domain", "source", "--out", killed)

    def writing_shards() -> bool:
        return any(f.stat().st_size > 0 for f in killed.parent.glob(".source.*.tmp/source/*.tar"))

    _kill_when(proc, writing_shards)
    assert not killed.exists()  # nothing a later stage would trust
    assert run_script("stages/prepare.py", "--params", params, "--domain", "source",
                      "--out", killed).status == 0
    straight = out.root / "straight" / "source"
    assert run_script("stages/prepare.py", "--params", params, "--domain", "source",
                      "--out", straight).status == 0
    assert _tree_bytes(killed) == _tree_bytes(straight)
    assert [p.name for p in killed.parent.iterdir()] == ["source"]  # the killed run's temporary went


def test_training_killed_midway_resumes_to_the_identical_model(ws, out):
    params = write_params(out.root / "params.yaml", **{"pretrain.iterations": 30,
                                                       "train.checkpoint_every": 5,
                                                       "train.snapshot_every": 0})
    killed = out.root / "killed"
    proc = _spawn("stages/pretrain.py", "--params", params, "--source", ws.source,
                  "--out", killed, "--live", out.root / "live-killed")
    _kill_when(proc, lambda: (killed / "resume.pt").is_file())
    assert not (killed / "model.pt").exists()
    step = torch.load(killed / "resume.pt", weights_only=True)["step"]
    assert 0 < step < 30
    resumed = run_script("stages/pretrain.py", "--params", params, "--source", ws.source,
                         "--out", killed, "--live", out.root / "live-killed")
    assert resumed.status == 0 and f"resuming from {killed / 'resume.pt'} at iteration {step}" in resumed.stdout
    straight = out.root / "straight"
    assert run_script("stages/pretrain.py", "--params", params, "--source", ws.source,
                      "--out", straight, "--live", out.root / "live-straight").status == 0
    a = torch.load(killed / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(straight / "model.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------- parallel experiments

def _dvc(repo: Path, env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, f"dvc {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                          text=True).stdout


@pytest.mark.slow
def test_two_queued_experiments_running_at_once_each_get_their_own_results(tmp_path):
    """`dvc exp run --queue` twice, `dvc queue start -j 2`: both finish, and each one's
    model is the one its own parameters give (checked against a run in this process)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("advent", "stages"):
        subprocess.run(["cp", "-r", str(ROOT / name), str(repo / name)], check=True)
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    stages = {"fingerprint": {**pipeline["stages"]["fingerprint"], "foreach": ["source", "init"]},
              "prepare": {**pipeline["stages"]["prepare"], "foreach": ["source"]},
              "pretrain": pipeline["stages"]["pretrain"]}
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    write_params(repo / "params.yaml")
    (repo / ".dvcignore").write_text((ROOT / ".dvcignore").read_text())
    env = process_env(PYTHONPATH=str(repo), DVC_NO_ANALYTICS="1",
                      PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "test@example.invalid")
    _git(repo, "config", "user.name", "queue test")
    _dvc(repo, env, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "pipeline")
    seeds = {"seed-a": 1, "seed-b": 2}
    for name, seed in seeds.items():
        _dvc(repo, env, "exp", "run", "--queue", "--name", name, "-S", f"train.seed={seed}")
    # The workers keep the pipes of `queue start` open: let them write to nothing.
    subprocess.run([sys.executable, "-m", "dvc", "queue", "start", "-j", "2"], cwd=repo, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    deadline = time.monotonic() + 300
    while True:
        status = _dvc(repo, env, "queue", "status")
        if not any(word in status for word in ("Queued", "Running")):
            break
        assert time.monotonic() < deadline, status
        time.sleep(2)
    for name in seeds:
        assert f"{name}" in status and "Success" in status, status

    # Each experiment's model, from the cache by the md5 its own dvc.lock records.
    params = load_params(repo / "params.yaml")
    source = tmp_path / "source"
    prepare_synthetic(params.data.synthetic, "source", source)
    refs = _git(repo, "for-each-ref", "--format=%(refname)", "refs/exps").split()
    found = {}
    for ref in refs:
        exp_params = yaml.safe_load(_git(repo, "show", f"{ref}:params.yaml"))
        lock = yaml.safe_load(_git(repo, "show", f"{ref}:dvc.lock"))
        md5 = next(o["md5"] for o in lock["stages"]["pretrain"]["outs"]
                   if o["path"] == "models/source_only/model.pt")
        found[exp_params["train"]["seed"]] = repo / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    assert sorted(found) == sorted(seeds.values())
    for seed, cached in found.items():
        expected_dir = tmp_path / f"expected-{seed}"
        seeded = load_params(write_params(tmp_path / f"params-{seed}.yaml", **{"train.seed": seed}))
        train_and_save("source_only", seeded, seeded.pretrain.iterations,
                       PreparedDataset(source, "train"), None, expected_dir)
        got = torch.load(cached, weights_only=True)
        want = torch.load(expected_dir / "model.pt", weights_only=True)
        assert got["info"]["seed"] == seed
        assert all(torch.equal(got["state_dict"][k], v) for k, v in want["state_dict"].items()), seed
