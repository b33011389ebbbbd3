"""The parts every interactive learner shares: transitions, rollouts, replay, offline datasets,
networks, checkpoints."""

import numpy as np
import torch

from rlrec.interactive.env import VectorRecEnv
from rlrec.interactive.evaluate import EvaluationConfig, evaluate_policy, summarize
from rlrec.interactive.experience.rollout import TorchPolicy, rollout, sampler
from rlrec.interactive.experience.transitions import (
    windows_from_episodes,
)

from ..parts import actor_critic


def test_rollout_transitions_chain_states_within_each_episode(small_world):
    env = VectorRecEnv.from_world(small_world, "train")
    users = np.arange(12)
    ep = rollout(
        env, users, sampler(actor_critic(small_world).scores, torch.Generator().manual_seed(0)), 100
    )
    t = ep.transitions
    assert len(t) == ep.lengths.sum() and np.allclose(np.bincount(t.episodes - 100), ep.lengths)
    assert np.allclose(np.bincount(t.episodes - 100, weights=t.rewards), ep.returns, atol=1e-4)
    nxt_items, nxt_rewards = t.next_window()
    same = t.episodes[1:] == t.episodes[:-1]
    # the state after a step is the state of the episode's next step
    assert (nxt_items[:-1][same] == t.window_items[1:][same]).all()
    assert np.allclose(nxt_rewards[:-1][same], t.window_rewards[1:][same])
    # every episode ends with done, and only there
    assert (t.done[:-1] == ~same).all() and t.done[-1]
    # the first step of every episode starts from an empty window
    first = np.r_[True, ~same]
    assert (t.window_items[first] == -1).all()
    # the same episodes rebuilt from flat steps give the same windows
    rebuilt = windows_from_episodes(t.users, t.actions, t.rewards, t.episodes, 4)
    assert (rebuilt.window_items == t.window_items).all() and (rebuilt.done == t.done).all()


def test_torch_policy_samples_reproducibly_and_respects_bans(small_world):
    policy = TorchPolicy("net", actor_critic(small_world).scores)
    cfg = EvaluationConfig(n_users=10, seeds=[3])
    a = evaluate_policy(policy, small_world, cfg)
    b = evaluate_policy(policy, small_world, cfg)
    assert a == b
    no_repeat = summarize(
        evaluate_policy(policy, small_world, cfg.model_copy(update={"mode": "no-repeat"}))
    )
    assert no_repeat["Len"]["mean"] >= 1
