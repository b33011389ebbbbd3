"""Small networks and transitions the experience and learner tests share (the small world
itself is the `small_world` fixture of conftest.py)."""

from __future__ import annotations

import numpy as np

from rlrec.interactive.experience.transitions import Transitions, windows_from_episodes
from rlrec.interactive.learners.nets import ActorCritic
from rlrec.interactive.world.worldmodel import WorldModel
from rlrec.seeding import torch_rng


def actor_critic(world: WorldModel, seed: int = 0) -> ActorCritic:
    """An untrained actor-critic over `world`, its initialisation drawn from `seed`."""
    with torch_rng(seed):
        return ActorCritic(len(world.users["train"]), world.n_items).eval()


def chain(n: int, start_episode: int = 0, item: int = 0) -> Transitions:
    """n one-step episodes of user 0 recommending `item` for reward 1."""
    return windows_from_episodes(
        np.zeros(n, np.int64), np.full(n, item), np.ones(n), np.arange(n) + start_episode, 4
    )
