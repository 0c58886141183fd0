import importlib.util
from pathlib import Path

import pytest
import torch

# One thread: tests run tiny models, and on a busy 2-core machine a second thread
# mostly spins (13x slower measured).
torch.set_num_threads(1)


@pytest.fixture
def rng():
    import numpy as np
    return np.random.default_rng(0)


@pytest.fixture()
def tune(monkeypatch):
    """scripts/tune.py as a module that can queue nothing: a test reaching the queue fails
    instead of starting real experiments."""
    script = Path(__file__).resolve().parent.parent / "scripts" / "tune.py"
    spec = importlib.util.spec_from_file_location("tune_script", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def refuse(*args, **kwargs):
        raise AssertionError("a test queued an experiment")

    monkeypatch.setattr(module, "queue_experiment", refuse)
    monkeypatch.setattr(module, "run_queue", refuse)
    return module
