"""The run table behind the README's claims: statistics, paired gains, targets, report."""
import pytest

from advent.report.robustness import (INTRADA_OVER_ADVENT, PAPER_RATIOS, check_targets,
                                      robustness_markdown, spread_sources, summarize_runs)

METHODS = ["source_only", "minent", "advent", "ensemble", "self_train", "oracle", "intrada"]


def _run(seed, threads, so, minent, advent, ensemble, self_train, oracle, intrada):
    values = dict(zip(METHODS, (so, minent, advent, ensemble, self_train, oracle, intrada)))
    return {"seed": seed, "threads": threads, "cpu_capability": "avx2" if threads == 2 else "native",
            "cpu": "test CPU", "experiment": f"s{seed}t{threads}", "mIoU": values}


GOOD = [_run(0, 1, 20.0, 24.0, 25.0, 26.0, 26.5, 40.0, 26.0),
        _run(0, 2, 21.0, 24.8, 25.6, 26.4, 27.0, 41.0, 26.5),
        _run(1, 1, 19.0, 23.0, 24.5, 25.0, 25.8, 39.0, 25.5)]


def test_summary_has_paired_gains_and_the_band():
    summary = summarize_runs(GOOD, METHODS)
    assert "gain" not in summary["source_only"]
    advent = summary["advent"]
    assert advent["mIoU"]["min"] == 24.5 and advent["mIoU"]["max"] == 25.6
    gains = [5.0, 4.6, 5.5]  # paired: same run, not mean minus mean
    assert advent["gain"]["mean"] == pytest.approx(sum(gains) / 3)
    assert advent["gain"]["min"] == pytest.approx(4.6) and advent["gain"]["max"] == pytest.approx(5.5)
    assert advent["gain"]["std"] == pytest.approx(0.4509, abs=1e-4)  # sample std (ddof 1)
    assert advent["gain"]["n"] == 3


def test_spread_is_split_into_float_setting_and_seed():
    spread = spread_sources(GOOD, METHODS)
    # seed 0 ran in both settings: AdvEnt 25.0 vs 25.6, its gain 5.0 vs 4.6
    assert spread["advent"]["mIoU_setting"] == pytest.approx(0.6)
    assert spread["advent"]["gain_setting"] == pytest.approx(0.4)
    # only the 1-thread setting has two seeds: AdvEnt 25.0 and 24.5, gains 5.0 and 5.5
    assert spread["advent"]["mIoU_seed"] == pytest.approx(0.3536, abs=1e-4)
    assert spread["advent"]["gain_seed"] == pytest.approx(0.3536, abs=1e-4)
    assert "gain_setting" not in spread["source_only"]
    assert spread_sources(GOOD[:1], METHODS)["advent"]["mIoU_setting"] is None


def test_all_targets_hold_on_a_good_table():
    summary = summarize_runs(GOOD, METHODS)
    targets = check_targets(GOOD, summary)
    assert all(t.holds for t in targets), [t for t in targets if not t.holds]
    names = " ".join(t.name for t in targets)
    for m in ("minent", "advent", "ensemble", "self_train", "intrada"):
        assert f"{m}: paired gain over source only > 0 in every run" in names
    assert "oracle: paired gain" not in names  # the oracle is a ceiling, not an adaptation


@pytest.mark.parametrize("change, failing", [
    # one run where MinEnt is below source-only: the mean still gains, the run does not
    (lambda r: r[2]["mIoU"].update(minent=18.9), "minent: paired gain over source only > 0 in every run"),
    # the ensemble below its best member on average
    (lambda r: [x["mIoU"].update(ensemble=x["mIoU"]["advent"] - 0.1) for x in r],
     "ensemble: mean minus its best member"),
    # self-training only 0.5 above AdvEnt
    (lambda r: [x["mIoU"].update(self_train=x["mIoU"]["advent"] + 0.5) for x in r],
     "self_train: mean minus AdvEnt's"),
    # IntraDA worse than AdvEnt in one run
    (lambda r: r[0]["mIoU"].update(intrada=24.9), "intrada: paired gain over AdvEnt > 0 in every run"),
    # the oracle too close to source-only
    (lambda r: [x["mIoU"].update(oracle=30.0) for x in r], "oracle: mean / source only"),
    # a scattered paired gain
    (lambda r: r[0]["mIoU"].update(advent=30.0), "advent: std of the paired gain"),
])
def test_each_target_fails_when_its_condition_does(change, failing):
    runs = [dict(r, mIoU=dict(r["mIoU"])) for r in GOOD]
    change(runs)
    targets = {t.name: t for t in check_targets(runs, summarize_runs(runs, METHODS))}
    assert not targets[failing].holds
    assert sum(not t.holds for t in targets.values()) >= 1


def test_paper_ratios_are_the_papers():
    assert PAPER_RATIOS["oracle"] == pytest.approx(65.1 / 36.6)
    assert PAPER_RATIOS["advent"] == pytest.approx(1.1967, abs=1e-4)
    assert INTRADA_OVER_ADVENT == pytest.approx(45.1 / 43.8)


def test_a_run_without_a_method_is_refused():
    runs = [dict(GOOD[0], mIoU={"source_only": 20.0})]
    with pytest.raises(ValueError, match=r"s0t1.*minent"):
        summarize_runs(runs, METHODS)


def test_report_lists_band_gains_targets_and_every_run():
    summary = summarize_runs(GOOD, METHODS)
    text = robustness_markdown(GOOD, summary, check_targets(GOOD, summary),
                               {"advent": "AdvEnt"}, "python scripts/robustness.py", "last checkpoint")
    assert "| AdvEnt | 25.0 ± 0.6 | 24.5 – 25.6 | +5.0 ± 0.5 | +4.6 – +5.5 |" in text
    assert "seeds [0, 1]" in text and "test CPU" in text
    assert "1 thread(s) / native kernels" in text and "2 thread(s) / avx2 kernels" in text
    assert "| AdvEnt | 0.6 | 0.4 | 0.4 | 0.4 |" in text  # where the spread comes from
    assert text.count("\n| 0 | ") == 2 and text.count("\n| 1 | ") == 1


def _with_adabn(runs, values):
    return [dict(r, mIoU={**r["mIoU"], "adabn": v}) for r, v in zip(runs, values)]


def test_adabn_is_a_reference_without_targets_and_gains_over_it_are_reported():
    runs = _with_adabn(GOOD, [23.0, 23.0, 20.0])  # a reference: no target is checked on it
    methods = METHODS + ["adabn"]
    summary = summarize_runs(runs, methods)
    targets = check_targets(runs, summary)
    assert not [t for t in targets if t.name.startswith("adabn")]
    text = robustness_markdown(runs, summary, targets, {"advent": "AdvEnt"}, "cmd", "last checkpoint")
    # AdvEnt over AdaBN, paired: 25.0 - 23.0, 25.6 - 23.0, 24.5 - 20.0
    assert "## Paired gains over AdaBN" in text
    assert "| AdvEnt | +3.0 ± 1.3 | +2.0 – +4.5 |" in text


def test_the_report_names_the_split_it_was_made_from():
    summary = summarize_runs(GOOD, METHODS)
    targets = check_targets(GOOD, summary)
    assert "Target **test** mIoU" in robustness_markdown(GOOD, summary, targets, {}, "cmd", "last")
    val = robustness_markdown(GOOD, summary, targets, {}, "cmd", "last", split="val")
    assert "Target **val** mIoU" in val and "**test**" not in val


def test_the_report_says_when_its_runs_were_restricted_to_some_stages():
    summary = summarize_runs(GOOD, METHODS)
    targets = check_targets(GOOD, summary)
    assert "runs of the whole pipeline" in robustness_markdown(GOOD, summary, targets, {}, "cmd", "last")
    restricted = robustness_markdown(GOOD, summary, targets, {}, "cmd", "last", whole_pipeline=False)
    assert "runs of the stages its methods need" in restricted and "whole pipeline" not in restricted


def test_without_adabn_the_report_has_no_gains_over_it():
    summary = summarize_runs(GOOD, METHODS)
    text = robustness_markdown(GOOD, summary, check_targets(GOOD, summary), {}, "cmd", "last checkpoint")
    assert "AdaBN" not in text
