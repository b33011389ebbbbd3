"""Transitions with their history windows: discounted returns, concatenation."""

import numpy as np
import torch

from rlrec.interactive.env import QuitConfig, VectorRecEnv
from rlrec.interactive.experience.rollout import rollout, sampler
from rlrec.interactive.experience.transitions import (
    Transitions,
    discounted_returns,
)

from ..parts import actor_critic, chain


def test_discounted_returns_by_hand():
    r = np.array([1.0, 2.0, 4.0, 3.0, 1.0])
    ep = np.array([0, 0, 0, 1, 1])
    g = discounted_returns(r, ep, 0.5)
    assert np.allclose(g, [1 + 0.5 * 2 + 0.25 * 4, 2 + 0.5 * 4, 4, 3 + 0.5, 1])


def test_transitions_concat_and_quit_config_pass_through(small_world):
    t = Transitions.concat([chain(2), chain(3, 2)])
    assert len(t) == 5 and t.episodes.tolist() == [0, 1, 2, 3, 4]
    env = VectorRecEnv.from_world(small_world, "train", QuitConfig(max_turns=2, quit=False))
    ep = rollout(env, np.arange(4), sampler(actor_critic(small_world).scores, torch.Generator()))
    assert (ep.lengths == 2).all()
