"""CQL's conservative penalty: logsumexp of Q over all items minus Q of the logged action."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rlrec.interactive.learners.baselines.cql import cql_penalty


def test_cql_penalty_by_hand():
    q = torch.tensor([[1.0, 2.0, 0.0]])
    expected = np.log(np.exp(1.0) + np.exp(2.0) + 1.0) - 1.0
    assert cql_penalty(q, torch.tensor([0])).item() == pytest.approx(expected, rel=1e-6)
