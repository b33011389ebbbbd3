"""DORL's training reward: the ensemble variance penalty, the window entropy bonus, the clip
at zero."""

from __future__ import annotations

import numpy as np

from rlrec.interactive.learners.baselines.dorl import dorl_rewards, window_entropy


def test_window_entropy_by_hand():
    items = np.array([[-1, -1, -1, -1], [-1, -1, -1, 5], [1, 2, 3, 4], [-1, 7, 7, 8]])
    h = window_entropy(items)
    p = np.array([2 / 3, 1 / 3])
    np.testing.assert_allclose(h, [0.0, 0.0, np.log(4), -(p * np.log(p)).sum()], rtol=1e-6)


def test_dorl_reward_penalises_and_clips():
    r = dorl_rewards(
        rewards=np.array([4.0, 0.1]),
        uncertainty=np.array([2.0, 5.0]),
        entropy=np.array([1.0, 0.0]),
        lambda_variance=0.5,
        lambda_entropy=0.25,
    )
    np.testing.assert_allclose(r, [4.0 - 1.0 + 0.25, 0.0])
