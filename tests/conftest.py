import pytest
import torch

# One thread: tests run tiny models, and on a busy 2-core machine a second thread
# mostly spins (13x slower measured).
torch.set_num_threads(1)


@pytest.fixture
def rng():
    import numpy as np
    return np.random.default_rng(0)
