"""Model selection: last, best on held-out val, and the official best-on-test (flagged)."""
from pathlib import Path

import pytest

from advent.data.labels import get_protocol
from advent.report.tables import method_table
from advent.selection import RULE_SPLIT, candidates, select, selection_label


def _run_dir(tmp_path: Path, iterations=(200, 400)) -> Path:
    snaps = tmp_path / "minent" / "snapshots"
    snaps.mkdir(parents=True)
    for i in iterations:
        (snaps / f"iter_{i:06d}.pt").write_bytes(b"x")
    model = tmp_path / "minent" / "model.pt"
    model.write_bytes(b"x")
    return model


def test_last_is_the_model_file_and_scores_nothing(tmp_path):
    model = _run_dir(tmp_path)
    chosen, record = select(model, "last", score=lambda p: pytest.fail("scored"))
    assert chosen == model and record == [{"path": str(model), "iteration": None, "score": None}]


def test_best_picks_the_highest_score_and_ties_go_to_the_later_snapshot(tmp_path):
    model = _run_dir(tmp_path, (200, 400, 1000))
    assert [i for i, _ in candidates(model, "best_val")] == [200, 400, 1000, None]
    scores = {"iter_000200.pt": 30.0, "iter_000400.pt": 35.0, "iter_001000.pt": 35.0, "model.pt": 31.0}
    chosen, record = select(model, "best_val", score=lambda p: scores[p.name])
    assert chosen.name == "iter_001000.pt"
    assert [r["score"] for r in record] == [30.0, 35.0, 35.0, 31.0]
    scores["model.pt"] = 40.0
    assert select(model, "best_test", score=lambda p: scores[p.name])[0] == model


def test_best_without_snapshots_names_the_missing_folder(tmp_path):
    (tmp_path / "m").mkdir()
    with pytest.raises(FileNotFoundError, match="snapshots.*snapshot_every"):
        select(tmp_path / "m" / "model.pt", "best_val", score=lambda p: 0.0)


def test_labels_flag_best_on_test_and_only_it():
    assert RULE_SPLIT == {"best_val": "val", "best_test": "test"}
    protocol = get_protocol("cityscapes19")
    metrics = {"source_only": {"mIoU": 30.0}, "AdvEnt": {"mIoU": 35.0}}
    for rule, flagged in (("last", False), ("best_val", False), ("best_test", True)):
        table = method_table(metrics, protocol, selection=selection_label(rule))
        assert ("WARNING" in table) == flagged, rule
        assert selection_label(rule) in table
    with pytest.raises(ValueError, match="evaluate.selection"):
        selection_label("best")
