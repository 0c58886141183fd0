"""pretrain.warmup_iterations: the from-scratch source-only stage ramps its learning rate
up on its own, while the stages that fine-tune its model keep train.warmup_iterations."""
from __future__ import annotations

import argparse

import pytest

from advent import pipeline
from advent.data.prepared import PreparedDataset
from advent.data.synthetic import prepare_synthetic
from advent.params import load_params
from stages import pretrain
from tests.stage_runs import write_params


class Stop(Exception):
    """Raised by the fake training loop once it has seen its config."""


@pytest.fixture()
def seen_by_the_loop(monkeypatch):
    """The train config and fingerprint each call of the training loop gets (it stops there)."""
    seen = []

    def fake_train(segmenter, objective, source, target, cfg, iterations, **kwargs):
        seen.append((cfg, kwargs["fingerprint"]))
        raise Stop

    monkeypatch.setattr(pipeline, "train", fake_train)
    return seen


@pytest.mark.parametrize("override, expected", [(None, 3), (0, 0), (11, 11)])
def test_the_pretrain_stage_trains_with_its_own_warmup(tmp_path, seen_by_the_loop, override, expected):
    params_file = write_params(tmp_path / "params.yaml", **{"train.warmup_iterations": 3,
                                                            "pretrain.warmup_iterations": override})
    params = load_params(params_file)
    prepare_synthetic(params.data.synthetic, "source", tmp_path / "source")
    args = argparse.Namespace(source=tmp_path / "source", out=tmp_path / "model",
                              live=str(tmp_path / "live"))
    with pytest.raises(Stop):
        pretrain.main(args, params)
    (cfg, _), = seen_by_the_loop
    assert cfg.warmup_iterations == expected
    assert cfg.lr == params.train.lr  # the rest of train is untouched


def test_an_overridden_warmup_is_part_of_the_resume_fingerprint(tmp_path, seen_by_the_loop):
    params = load_params(write_params(tmp_path / "params.yaml", **{"train.warmup_iterations": 0}))
    prepare_synthetic(params.data.synthetic, "source", tmp_path / "source")
    source = PreparedDataset(tmp_path / "source", "train")
    for warmup in (None, 0, 5):
        with pytest.raises(Stop):
            pipeline.train_and_save("source_only", params, 2, source, None, tmp_path / "m",
                                    warmup_iterations=warmup)
    (_, default), (_, zero), (_, five) = seen_by_the_loop
    assert default == zero != five  # a changed warm-up never resumes the old run
