"""Fixtures shared by the interactive tests."""

from __future__ import annotations

import pytest
import torch

from rlrec.interactive.world.synthetic_world import synthetic_world


@pytest.fixture
def one_torch_thread():
    """Run the test on one torch thread, then restore the previous count."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def small_world():
    """A 60-user, 50-item synthetic world (the experience and network tests)."""
    return synthetic_world(n_users=60, n_items=50, seed=1)
