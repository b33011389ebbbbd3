"""The learner base: users handed out in passes over the train rows (reshuffled for the
baselines, one order for IL-Rec), and the cycle's place kept across a checkpoint."""

import numpy as np

from rlrec.interactive.env import QuitConfig
from rlrec.interactive.learners.base import OnlineLearner
from rlrec.interactive.learners.ilrec import ILRec


class FixedOrder(OnlineLearner):
    name = "fixed"
    reshuffle = False


def passes(learner: OnlineLearner, n_passes: int, step: int = 7) -> np.ndarray:
    """The users of `n_passes` whole passes, asked for `step` at a time: [n_passes, U]."""
    total = n_passes * learner.env.n_users
    users = np.concatenate([learner.next_users(step) for _ in range(-(-total // step))])
    return users[:total].reshape(n_passes, -1)


def test_each_pass_is_a_permutation_reshuffled_after_each_pass(small_world):
    shuffled = passes(OnlineLearner(small_world, QuitConfig(), seed=0), 3)
    n = shuffled.shape[1]
    assert all(sorted(p) == list(range(n)) for p in shuffled.tolist())
    assert not (shuffled[0] == shuffled[1]).all() and not (shuffled[1] == shuffled[2]).all()
    again = passes(OnlineLearner(small_world, QuitConfig(), seed=0), 3)
    assert (again == shuffled).all()  # seeded


def test_without_reshuffle_every_pass_repeats_the_first_order(small_world):
    fixed = passes(FixedOrder(small_world, QuitConfig(), seed=0), 3)
    assert sorted(fixed[0].tolist()) == list(range(fixed.shape[1]))
    assert (fixed == fixed[0]).all()
    in_order = FixedOrder(small_world, None, seed=0, order=np.arange(len(fixed[0])))
    assert (passes(in_order, 2) == np.arange(fixed.shape[1])).all()
    assert ILRec.reshuffle is False  # the release cycles one order of its users


def test_the_cycle_resumes_where_the_checkpoint_left_it(small_world):
    whole = OnlineLearner(small_world, QuitConfig(), seed=4)
    first = whole.next_users(50)
    expected = whole.next_users(50)
    cut = OnlineLearner(small_world, QuitConfig(), seed=4)
    assert (cut.next_users(50) == first).all()
    resumed = OnlineLearner(small_world, QuitConfig(), seed=9)  # another order until loaded
    resumed.load_state_dict(cut.state_dict())
    assert (resumed.next_users(50) == expected).all()
