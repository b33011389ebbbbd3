"""The networks: the state tracker on empty and partial windows, the logit clamp and the actor
projection."""

import numpy as np
import torch

from rlrec.interactive.experience.batches import state_batch
from rlrec.interactive.learners.nets import ActorCritic

from ..parts import actor_critic


def test_state_tracker_handles_empty_and_partial_windows(small_world):
    net = actor_critic(small_world)
    s = state_batch(
        np.array([0, 1]), np.array([[-1, -1, -1, -1], [-1, -1, 3, 7]]), np.zeros((2, 4))
    )
    h, logits, value = net(s)
    assert (
        torch.isfinite(h).all() and logits.shape == (2, small_world.n_items) and value.shape == (2,)
    )
    clamped = ActorCritic(
        len(small_world.users["train"]), small_world.n_items, logit_clamp=1.0
    ).eval()
    assert clamped.scores(s).abs().max() <= 1.0
    clamped.actor.weight.data.mul_(100)
    clamped.actor.bias.data.fill_(50)
    clamped.project_actor(row_norm=10, bias_clamp=5)
    assert clamped.actor.weight.norm(dim=1).max() <= 10 + 1e-4
    assert clamped.actor.bias.abs().max() <= 5
