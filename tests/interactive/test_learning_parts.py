"""The parts every interactive learner shares: transitions, rollouts, replay, offline datasets,
networks, checkpoints."""

import numpy as np
import pandas as pd
import pytest
import torch

from rlrec.errors import DataError
from rlrec.interactive.env import QuitConfig, VectorRecEnv
from rlrec.interactive.evaluate import EvaluationConfig, evaluate_policy, summarize
from rlrec.interactive.experience.batches import state_batch
from rlrec.interactive.experience.buffer import (
    ReplayBuffer,
    mixed_sample,
    weighted_sample_without_replacement,
)
from rlrec.interactive.experience.offline_data import logged_transitions
from rlrec.interactive.experience.rollout import TorchPolicy, rollout, sampler
from rlrec.interactive.experience.transitions import (
    Transitions,
    discounted_returns,
    windows_from_episodes,
)
from rlrec.interactive.learners.nets import ActorCritic
from rlrec.interactive.learners.training import (
    from_storable,
    load_checkpoint,
    save_checkpoint,
    to_storable,
)
from rlrec.interactive.world.synthetic_world import synthetic_world


@pytest.fixture(scope="module")
def world():
    return synthetic_world(n_users=60, n_items=50, seed=1)


def _net(world, seed=0):
    torch.manual_seed(seed)
    return ActorCritic(len(world.users["train"]), world.n_items).eval()


def test_rollout_transitions_chain_states_within_each_episode(world):
    env = VectorRecEnv.from_world(world, "train")
    users = np.arange(12)
    ep = rollout(env, users, sampler(_net(world).scores, torch.Generator().manual_seed(0)), 100)
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


def test_discounted_returns_by_hand():
    r = np.array([1.0, 2.0, 4.0, 3.0, 1.0])
    ep = np.array([0, 0, 0, 1, 1])
    g = discounted_returns(r, ep, 0.5)
    assert np.allclose(g, [1 + 0.5 * 2 + 0.25 * 4, 2 + 0.5 * 4, 4, 3 + 0.5, 1])


def test_weighted_sampling_without_replacement_follows_the_weights():
    rng = np.random.default_rng(0)
    first = [weighted_sample_without_replacement(np.array([1.0, 3.0, 0.0]), 1, rng)[0]
             for _ in range(4000)]  # fmt: skip
    assert abs(np.mean(np.array(first) == 1) - 0.75) < 0.03 and 2 not in first
    both = weighted_sample_without_replacement(np.array([1.0, 3.0, 0.0]), 5, rng)
    assert sorted(both.tolist()) == [0, 1]  # never a zero weight, never twice


def _transitions(n, start_episode=0, item=0):
    return windows_from_episodes(
        np.zeros(n, np.int64), np.full(n, item), np.ones(n), np.arange(n) + start_episode, 4
    )


def test_replay_buffer_keeps_the_newest_records():
    buf = ReplayBuffer(capacity=5, window=4)
    buf.add(_transitions(3, 0))
    buf.add(_transitions(4, 3))
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
    env.add(_transitions(400, item=1))  # env mass 20
    demos = _transitions(50, item=2)
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


def test_logged_transitions_follow_time_and_cut_long_histories(world):
    train = world.users["train"]
    logs = pd.DataFrame(
        {
            "user_id": [train[0]] * 5 + [train[1]] * 2 + [99_999],
            "item_id": [3, 1, 4, 1, 5, 9, 2, 6],
            "timestamp": [5, 1, 4, 2, 3, 2, 1, 0],
        }
    )
    t = logged_transitions(world, logs, window=4, max_turns=3)
    assert t.actions.tolist() == [1, 1, 5, 4, 3, 2, 9]  # by time; the unknown user dropped
    assert t.done.tolist() == [False, False, True, False, True, False, True]
    assert t.window_items[3].tolist() == [-1, -1, -1, -1]  # a cut starts a fresh episode
    assert np.allclose(t.rewards[0], world.rewards["train"][0, 1])
    with pytest.raises(DataError, match="no logged interaction"):
        logged_transitions(world, logs.assign(user_id=-5))


def test_state_tracker_handles_empty_and_partial_windows(world):
    net = _net(world)
    s = state_batch(
        np.array([0, 1]), np.array([[-1, -1, -1, -1], [-1, -1, 3, 7]]), np.zeros((2, 4))
    )
    h, logits, value = net(s)
    assert torch.isfinite(h).all() and logits.shape == (2, world.n_items) and value.shape == (2,)
    clamped = ActorCritic(len(world.users["train"]), world.n_items, logit_clamp=1.0).eval()
    assert clamped.scores(s).abs().max() <= 1.0
    clamped.actor.weight.data.mul_(100)
    clamped.actor.bias.data.fill_(50)
    clamped.project_actor(row_norm=10, bias_clamp=5)
    assert clamped.actor.weight.norm(dim=1).max() <= 10 + 1e-4
    assert clamped.actor.bias.abs().max() <= 5


def test_torch_policy_samples_reproducibly_and_respects_bans(world):
    policy = TorchPolicy("net", _net(world).scores)
    cfg = EvaluationConfig(n_users=10, seeds=[3])
    a = evaluate_policy(policy, world, cfg)
    b = evaluate_policy(policy, world, cfg)
    assert a == b
    no_repeat = summarize(
        evaluate_policy(policy, world, cfg.model_copy(update={"mode": "no-repeat"}))
    )
    assert no_repeat["Len"]["mean"] >= 1


def test_checkpoints_round_trip_without_unpickling_code(tmp_path):
    class Tiny:
        name = "tiny"
        unit = "episodes"

        def state_dict(self):
            return {"a": np.arange(3), "rng": np.random.default_rng(5), "t": torch.ones(2)}

    save_checkpoint(Tiny(), tmp_path / "c.pt", 7, [{"episodes": 7}])
    state = load_checkpoint(tmp_path / "c.pt")
    restored = from_storable(state["state"])
    assert state["done"] == 7 and restored["a"].tolist() == [0, 1, 2]
    assert restored["rng"].integers(1000) == np.random.default_rng(5).integers(1000)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "bad.pt")


def test_transitions_concat_and_quit_config_pass_through(world):
    t = Transitions.concat([_transitions(2), _transitions(3, 2)])
    assert len(t) == 5 and t.episodes.tolist() == [0, 1, 2, 3, 4]
    env = VectorRecEnv.from_world(world, "train", QuitConfig(max_turns=2, quit=False))
    ep = rollout(env, np.arange(4), sampler(_net(world).scores, torch.Generator()))
    assert (ep.lengths == 2).all()
