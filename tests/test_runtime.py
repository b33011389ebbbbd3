import numpy as np
import pytest
import torch

from rlrec.errors import ConfigError
from rlrec.runtime import apply_threads, num_threads, seed_everything


def test_seed_everything_makes_numpy_and_torch_repeatable():
    g1 = seed_everything(7)
    a = (np.random.rand(3), torch.rand(3), g1.random(3))
    g2 = seed_everything(7)
    b = (np.random.rand(3), torch.rand(3), g2.random(3))
    assert np.array_equal(a[0], b[0]) and torch.equal(a[1], b[1]) and np.array_equal(a[2], b[2])
    seed_everything(8)
    assert not torch.equal(a[1], torch.rand(3))


def test_thread_knob(monkeypatch):
    monkeypatch.delenv("RLREC_THREADS", raising=False)
    assert num_threads() == 2
    monkeypatch.setenv("RLREC_THREADS", "1")
    assert apply_threads() == 1
    assert torch.get_num_threads() == 1
    for bad in ("zero", "0", "-2"):
        monkeypatch.setenv("RLREC_THREADS", bad)
        with pytest.raises(ConfigError, match="RLREC_THREADS"):
            num_threads()
