"""Reading an experiment's cached outputs back (what bn_statistics_check --experiments
does with the robustness table's models): the file as it was at a given commit."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from advent.report.queue import DvcError, experiment_rows, output_at, outputs_under
from tests.pipeline_repo import sh

DVC_YAML = """\
stages:
  double:
    cmd: python -c "import pathlib; s = pathlib.Path('src.txt').read_bytes(); pathlib.Path('out.bin').write_bytes(s * 2)"
    deps: [src.txt]
    outs: [out.bin]
"""


def dvc_repo_with_commits(path: Path, dvc_yaml: str, input_name: str,
                          inputs: tuple[str, ...]) -> list[str]:
    """A git + DVC repository at ``path`` running ``dvc_yaml``: one commit per value of
    ``inputs`` (written to ``input_name``, then `dvc repro`); the commits' hashes."""
    env = dict(os.environ, DVC_NO_ANALYTICS="1",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    dvc = [sys.executable, "-m", "dvc"]
    sh(["git", "init", "-q"], path, env)
    # CI may have no git identity: give this repository its own.
    sh(["git", "config", "user.email", "test@example.invalid"], path, env)
    sh(["git", "config", "user.name", "queue test"], path, env)
    sh(dvc + ["init", "-q"], path, env)
    (path / "dvc.yaml").write_text(dvc_yaml)
    revs = []
    for text in inputs:
        (path / input_name).write_text(text)
        sh(dvc + ["repro", "-q"], path, env)
        sh(["git", "add", "-A"], path, env)
        sh(["git", "commit", "-qm", text], path, env)
        revs.append(sh(["git", "rev-parse", "HEAD"], path, env).strip())
    return revs


@pytest.fixture()
def two_commits(tmp_path: Path) -> tuple[Path, list[str]]:
    """A DVC repository whose cached output out.bin changed between two commits."""
    return tmp_path, dvc_repo_with_commits(tmp_path, DVC_YAML, "src.txt", ("first", "second"))


def test_a_cached_output_is_read_as_it_was_at_each_commit(two_commits, tmp_path_factory):
    repo, (first, second) = two_commits
    dest = tmp_path_factory.mktemp("out") / "models" / "out.bin"
    assert output_at(repo, first, "out.bin", dest).read_bytes() == b"firstfirst"
    assert output_at(repo, second, "out.bin", dest).read_bytes() == b"secondsecond"


def test_an_output_not_in_the_cache_is_refused_naming_it_and_nothing_is_left(two_commits, tmp_path_factory):
    repo, (first, _) = two_commits
    dest = tmp_path_factory.mktemp("out") / "model.pt"
    with pytest.raises(DvcError, match=r"models/none/model\.pt.*" + first):
        output_at(repo, first, "models/none/model.pt", dest)
    assert not dest.exists()


def test_the_files_of_a_tracked_folder_are_listed_as_they_were_at_a_commit(tmp_path):
    snaps_yaml = (
        "stages:\n  snap:\n    cmd: python -c \"import pathlib; d = pathlib.Path('snaps'); "
        "d.mkdir(exist_ok=True); [(d / f'iter_{i}.pt').write_text(str(i)) for i in "
        "range(int(pathlib.Path('n.txt').read_text()))]\"\n    deps: [n.txt]\n    outs: [snaps]\n")
    revs = dvc_repo_with_commits(tmp_path, snaps_yaml, "n.txt", ("1", "3"))
    assert outputs_under(tmp_path, revs[0], "snaps") == ["iter_0.pt"]
    assert outputs_under(tmp_path, revs[1], "snaps") == ["iter_0.pt", "iter_1.pt", "iter_2.pt"]
    with pytest.raises(DvcError, match="nothing"):
        outputs_under(tmp_path, revs[1], "nothing")


PARAMS_DVC_YAML = """\
stages:
  score:
    cmd: python score.py
    deps: [score.py]
    params: [train.seed]
    metrics: [{m.json: {cache: false}}]
"""
SCORE_PY = """\
import json, yaml
seed = yaml.safe_load(open("params.yaml"))["train"]["seed"]
assert seed != 7, "seed 7 fails"
json.dump({"m": seed}, open("m.json", "w"))
"""


def test_experiment_rows_finds_finished_experiments_by_name_with_their_params(tmp_path):
    """Real `dvc exp run`s: a finished one is found from its git ref with the params it
    ran with, a failed one (the stage exits 1) and one never run are reported missing."""
    (tmp_path / "params.yaml").write_text("train:\n  seed: 0\n  lr: 1.0e-3\n")
    (tmp_path / "score.py").write_text(SCORE_PY)
    dvc_repo_with_commits(tmp_path, PARAMS_DVC_YAML, "note.txt", ("base",))
    env = dict(os.environ, DVC_NO_ANALYTICS="1",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    dvc = [sys.executable, "-m", "dvc"]
    sh(dvc + ["exp", "run", "-q", "--name", "good", "-S", "train.seed=3", "-S", "train.lr=5.0e-5"],
       tmp_path, env)
    with pytest.raises(Exception):
        sh(dvc + ["exp", "run", "-q", "--name", "bad", "-S", "train.seed=7"], tmp_path, env)
    rows, failed = experiment_rows(tmp_path, ["good", "bad", "never"])
    assert failed == ["bad", "never"]
    assert list(rows["name"]) == ["good"]
    assert rows.loc[0, "train.seed"] == 3 and rows.loc[0, "train.lr"] == 5.0e-5
    assert sh(["git", "show", f"{rows.loc[0, 'rev']}:m.json"], tmp_path, env).strip() == '{"m": 3}'
