"""The replay buffer and the release's mixed, weighted sampling without replacement."""

import numpy as np

from rlrec.interactive.experience.buffer import (
    ReplayBuffer,
    mixed_sample,
    weighted_sample_without_replacement,
)
from rlrec.interactive.learners.training import (
    from_storable,
    to_storable,
)

from ..parts import chain


def test_weighted_sampling_without_replacement_follows_the_weights():
    rng = np.random.default_rng(0)
    first = [weighted_sample_without_replacement(np.array([1.0, 3.0, 0.0]), 1, rng)[0]
             for _ in range(4000)]  # fmt: skip
    assert abs(np.mean(np.array(first) == 1) - 0.75) < 0.03 and 2 not in first
    both = weighted_sample_without_replacement(np.array([1.0, 3.0, 0.0]), 5, rng)
    assert sorted(both.tolist()) == [0, 1]  # never a zero weight, never twice


def test_replay_buffer_keeps_the_newest_records():
    buf = ReplayBuffer(capacity=5, window=4)
    buf.add(chain(3, 0))
    buf.add(chain(4, 3))
    assert len(buf) == 5 and buf.added == 7
    assert buf.recent(5).episodes.tolist() == [2, 3, 4, 5, 6]
    restored = ReplayBuffer(5, 4)
    restored.load_state_dict(from_storable(to_storable(buf.state_dict())))
    assert restored.recent(5).episodes.tolist() == [2, 3, 4, 5, 6] and restored.added == 7


def test_mixed_sampling_follows_the_release_priorities():
    """env source mass = 0.05 x env records; demo mass = sum of demo weights
    (docs/ilrec.md#mixed-replay)."""
    rng = np.random.default_rng(0)
    env = ReplayBuffer(1000, 4)
    env.add(chain(400, item=1))  # env mass 20
    demos = chain(50, item=2)
    weights = np.full(50, 0.2)  # demo mass 10
    weights[0] = 10.0  # one heavy demo
    counts, heavy = [], 0
    for _ in range(300):
        batch, is_demo, w = mixed_sample(env, demos, weights, 1, 0.05, rng)
        counts.append(is_demo[0])
        heavy += bool(is_demo[0] and w[0] == 10.0)
        assert (batch.actions[is_demo] == 2).all() and (batch.actions[~is_demo] == 1).all()
    # demo mass 10 + 9.8 vs env mass 20: ~ 0.497 of single draws are demos
    assert abs(np.mean(counts) - 19.8 / 39.8) < 0.08
    assert abs(heavy / sum(counts) - 10 / 19.8) < 0.1  # within demos: by weight
    big, is_demo, _ = mixed_sample(env, demos, weights, 64, 0.05, rng)
    keys = list(zip(big.episodes.tolist(), is_demo.tolist(), strict=True))
    assert len(set(keys)) == 64  # without replacement
