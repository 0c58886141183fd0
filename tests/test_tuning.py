"""The tuning table: per variant, each method's val mIoU per seed, mean and paired gain."""
import json

import pandas as pd
import pytest

from advent.report.tuning import summarize_variants, tuning_markdown

RECORDS = [
    {"variant": "a", "seed": 0, "mIoU": {"source_only": 20.0, "minent": 23.0}},
    {"variant": "a", "seed": 1, "mIoU": {"source_only": 22.0, "minent": 24.0}},
    {"variant": "b", "seed": 0, "mIoU": {"source_only": 20.0, "minent": 25.0}},
    {"variant": "b", "seed": 1, "mIoU": {"source_only": 21.0, "minent": 27.0}},
]


def test_variants_are_summarised_with_paired_gains():
    summary = summarize_variants(RECORDS, ["source_only", "minent"])
    assert list(summary) == ["a", "b"]
    assert summary["a"]["minent"]["mIoU"]["mean"] == pytest.approx(23.5)
    assert summary["a"]["minent"]["gain"]["mean"] == pytest.approx(2.5)
    assert summary["a"]["minent"]["gain"]["min"] == pytest.approx(2.0)
    assert summary["b"]["minent"]["gain"]["mean"] == pytest.approx(5.5)
    assert "gain" not in summary["b"]["source_only"]


def test_without_source_only_there_is_no_gain():
    records = [{"variant": "a", "seed": s, "mIoU": {"minent": 20.0 + s}} for s in (0, 1)]
    summary = summarize_variants(records, ["minent"])
    assert "gain" not in summary["a"]["minent"]
    assert summary["a"]["minent"]["mIoU"]["std"] == pytest.approx(2 ** 0.5 / 2)


def test_markdown_lists_every_seed_and_the_settings():
    text = tuning_markdown("t", "python scripts/tune.py t", {"a": {"k": "1"}, "b": {}},
                           RECORDS, ["source_only", "minent"])
    assert "`k=1`" in text and "(defaults)" in text
    assert "| b | 25.0 | 27.0 | 26.0 ± 1.4 | +5.5 (min +5.0) |" in text


def test_collect_writes_the_finished_runs_and_names_the_failed_ones(tune, tmp_path, monkeypatch, capsys):
    """One failed run (a worker's error) no longer costs the whole table: the others are
    scored, the failed one is marked and named, and the script exits 1."""
    runs = [{"variant": v, "seed": s, "experiment": f"tune-x-{v}-s{s}"} for v in "ab" for s in (0, 1)]
    plan = {"command": "python scripts/tune.py x", "title": "x", "methods": ["source_only", "minent"],
            "variants": {"a": {}, "b": {"train.lr": "0.01"}}, "runs": runs}
    (tmp_path / "reports" / "tuning").mkdir(parents=True)
    (tmp_path / "reports" / "tuning" / "x.json").write_text(json.dumps(plan))
    scores = {f"tune-x-{r['variant']}-s{r['seed']}": r["mIoU"] for r in RECORDS}
    done = [n for n in scores if n != "tune-x-b-s1"]
    monkeypatch.setattr(tune, "ROOT", tmp_path)
    monkeypatch.setattr(tune, "experiment_rows", lambda repo, names: (
        pd.DataFrame({"name": done, "rev": done}), ["tune-x-b-s1"]))
    monkeypatch.setattr(tune, "read_json_at", lambda repo, rev, path: {
        m: {"val": {"mIoU": scores[rev][m]}} for m in ("source_only", "minent")})
    assert tune.main(["x", "--collect"]) == 1
    assert "tune-x-b-s1" in capsys.readouterr().err
    record = json.loads((tmp_path / "reports" / "tuning" / "x.json").read_text())
    assert [r.get("failed", False) for r in record["runs"]] == [False, False, False, True]
    assert record["runs"][2]["mIoU"] == {"source_only": 20.0, "minent": 25.0}
    text = (tmp_path / "reports" / "tuning" / "x.md").read_text()
    assert "left out of the tables: b seed 1 (`tune-x-b-s1`)" in text
    assert "| b | 25.0 | – | 25.0 ± " in text


def test_collect_with_every_run_failed_writes_no_table(tune, tmp_path, monkeypatch):
    plan = {"command": "c", "title": "x", "methods": ["source_only"], "variants": {"a": {}},
            "runs": [{"variant": "a", "seed": 0, "experiment": "tune-x-a-s0"}]}
    (tmp_path / "reports" / "tuning").mkdir(parents=True)
    (tmp_path / "reports" / "tuning" / "x.json").write_text(json.dumps(plan))
    monkeypatch.setattr(tune, "ROOT", tmp_path)
    monkeypatch.setattr(tune, "experiment_rows", lambda repo, names: (pd.DataFrame({"name": [], "rev": []}), names))
    with pytest.raises(SystemExit, match="every run failed or is missing: .*tune-x-a-s0"):
        tune.main(["x", "--collect"])
    assert not (tmp_path / "reports" / "tuning" / "x.md").exists()
