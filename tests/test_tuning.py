"""The tuning table: per variant, each method's val mIoU per seed, mean and paired gain."""
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
