"""scripts/robustness.py queueing experiments (what each one sets) and reading finished
ones back (which split, which methods). The experiments are faked (their rows and their
metrics files at a commit), so this runs without DVC."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def robustness(monkeypatch):
    """The script as a module, reading two fake experiments: e0 (seed 0) and e1 (seed 1),
    each with source-only and AdvEnt scored on test and val; e1 also has MinEnt."""
    spec = importlib.util.spec_from_file_location("robustness_script", ROOT / "scripts" / "robustness.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = pd.DataFrame({"name": ["e0", "e1"], "rev": ["r0", "r1"], "train.seed": [0, 1]})
    scores = {("r0", "source_only"): 20.0, ("r0", "advent"): 25.0,
              ("r1", "source_only"): 22.0, ("r1", "advent"): 26.0, ("r1", "minent"): 24.0}

    def read_json_at(root, rev, path):
        method = Path(path).parent.name
        if (rev, method) not in scores:
            raise RuntimeError(f"{path} is not at {rev}")
        x = scores[rev, method]
        training = {"threads": 1, "cpu_capability": "AVX512", "cpu": "test CPU", "torch": "2"}
        return {"test": {"mIoU": x, "selection": "last"},
                "val": {"mIoU": x + 100.0, "selection": "last"},
                "float_setting": {"training": [training]}}

    monkeypatch.setattr(module, "finished_experiments", lambda root, names: rows)
    monkeypatch.setattr(module, "read_json_at", read_json_at)
    return module


def test_collect_reads_the_split_it_is_asked_for(robustness):
    runs, selection, methods = robustness.collect(["e0", "e1"], ["source_only", "advent"], "val")
    assert [r["mIoU"] for r in runs] == [{"source_only": 120.0, "advent": 125.0},
                                         {"source_only": 122.0, "advent": 126.0}]
    runs, _, _ = robustness.collect(["e0", "e1"], ["source_only", "advent"], "test")
    assert runs[0]["mIoU"]["advent"] == 25.0 and runs[1]["seed"] == 1
    assert selection == "last" and runs[0]["cpu_capability"] == "avx512"


def test_collect_leaves_out_a_method_some_run_lacks(robustness, capsys):
    _, _, methods = robustness.collect(["e0", "e1"], ["source_only", "minent", "advent"], "test")
    assert methods == ["source_only", "advent"]
    assert "minent" in capsys.readouterr().err


def test_methods_goes_with_collect_only():
    result = subprocess.run([sys.executable, "scripts/robustness.py", "--methods", "source_only"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "--methods goes with --collect" in result.stderr


def test_render_rewrites_the_markdown_from_the_record_alone(robustness, tmp_path):
    runs, selection, methods = robustness.collect(["e0", "e1"], ["source_only", "advent"], "val")
    for run in runs:
        run.update(threads=1, cpu_capability="avx512", cpu="test CPU")
    record = {"command": "python scripts/robustness.py --collect e0 e1 --methods advent --split val",
              "split": "val", "selection": selection, "methods": methods, "runs": runs}
    path = tmp_path / "val.json"
    robustness.write_json(path, record)
    robustness.render_file(path)
    text = (tmp_path / "val.md").read_text()
    assert "2 runs of the stages its methods need" in text  # said by the old record's command
    assert "+4.5 ± 0.7" in text and "Target **val**" in text  # gains recomputed from the runs
    record["whole_pipeline"] = True
    robustness.write_json(path, record)
    robustness.render_file(path)
    assert "2 runs of the whole pipeline" in (tmp_path / "val.md").read_text()


def test_render_refuses_a_file_that_is_not_a_record(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"command": "python scripts/robustness.py"}')
    result = subprocess.run([sys.executable, "scripts/robustness.py", "--render", str(path)],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1 and f"--render {path}: not a robustness record, it has no key 'runs'" in result.stderr
    assert not (tmp_path / "other.md").exists()


def test_queue_sets_each_runs_axes_and_the_extra_params(robustness, monkeypatch):
    queued = {}
    monkeypatch.setattr(robustness, "queue_experiment",
                        lambda root, name, settings: queued.__setitem__(name, settings))
    names = robustness.queue([0, 1], [(1, "native"), (2, "avx2")], {"intrada.with_source": "true"})
    assert len(names) == len(queued) == 4 and names[0].startswith("rob-s0-t1-native-")
    assert queued[names[3]] == {"train.seed": 1, "train.threads": 2, "train.cpu_capability": "avx2",
                                "intrada.with_source": "true"}
