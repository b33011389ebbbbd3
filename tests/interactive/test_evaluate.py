"""The evaluation protocol: user choice, metrics by hand, modes, and the heuristics' order."""

import random

import numpy as np
import pandas as pd
import pytest

from rlrec.interactive.env import QuitConfig, Reason
from rlrec.interactive.evaluate import (
    EpisodeStats,
    EvaluationConfig,
    episode_metrics,
    evaluate_policy,
    standard_users,
    summarize,
)
from rlrec.interactive.learners.baselines.heuristics import (
    GreedyPolicy,
    OraclePolicy,
    PopularityPolicy,
    RandomPolicy,
    item_popularity,
    make_heuristic,
)
from rlrec.interactive.world.worldmodel import WorldModel, pairwise_euclidean


def test_standard_users_follow_billps_rule():
    ids = np.array([50, 10, 40, 30, 20])
    expected = [10, 20, 30, 40, 50]
    random.Random(233).shuffle(expected)
    assert standard_users(ids, n=3).tolist() == expected[:3]
    assert sorted(standard_users(ids, n=100).tolist()) == [10, 20, 30, 40, 50]


def test_metrics_by_hand():
    stats = EpisodeStats(
        lengths=np.array([3, 1, 100]),
        returns=np.array([12.0, 1.5, 400.0]),
        last_rewards=np.array([4.0, 1.5, 4.0]),
        reasons=np.array([Reason.DISTANCE, Reason.LOW_REWARD, Reason.MAX_TURN]),
        items={0, 1, 2, 3},
    )
    m = episode_metrics(stats, n_items=8)
    assert m["Len"] == pytest.approx(104 / 3)
    assert m["R_traj"] == pytest.approx(413.5 / 3)
    assert m["R_each"] == pytest.approx(413.5 / 104)
    # the quit step is dropped for the two quitting episodes, not for the truncated one
    assert m["Len_excl"] == pytest.approx((2 + 0 + 100) / 3)
    assert m["R_traj_excl"] == pytest.approx((8.0 + 0.0 + 400.0) / 3)
    assert m["coverage"] == 0.5
    assert (m["quit_distance"], m["quit_low_reward"], m["quit_max_turn"]) == (1, 1, 1)


def tiny_world(n_train=30, n_test=20, n_items=40, seed=0) -> WorldModel:
    """Users like items near their taste point on a line; nearby items are 'too close'."""
    rng = np.random.default_rng(seed)
    item_pos = np.sort(rng.random(n_items)).astype(np.float32)
    quality = rng.normal(0, 0.6, n_items)

    def rewards(n):
        taste = rng.random(n)
        r = 4.8 - 6 * np.abs(taste[:, None] - item_pos[None, :]) + quality[None, :]
        return np.clip(r, 0, 5).astype(np.float32)

    return WorldModel(
        rewards={"train": rewards(n_train), "test": rewards(n_test)},
        users={"train": np.arange(n_train), "test": np.arange(100, 100 + n_test)},
        items=pd.DataFrame({"item_id": np.arange(n_items)}),
        distance_threshold=0.01,
        item_embeddings=item_pos[:, None],
    )


def test_modes_change_what_is_allowed():
    world = tiny_world()
    never_repeat = RandomPolicy()

    class Stubborn:
        name = "stubborn"

        def act(self, obs, rng, greedy=False):
            allowed = np.where(obs.banned, -1, 1) if obs.banned is not None else None
            first = np.zeros(len(obs.users), dtype=np.int64)
            return first if allowed is None else allowed.argmax(1)

    free = summarize(evaluate_policy(Stubborn(), world, EvaluationConfig(n_users=20, seeds=[0])))
    assert free["Len"]["mean"] <= 2  # item 0 twice: the repeat quits at step 2 at the latest
    fixed = EvaluationConfig(n_users=20, seeds=[0, 1], mode="fixed-k", k=7)
    for policy in (Stubborn(), never_repeat):
        out = summarize(evaluate_policy(policy, world, fixed))
        assert out["Len"]["mean"] == 7 and out["Len"]["std"] == 0
        assert out["quit_max_turn"]["mean"] == 20


def test_a_policy_breaking_no_repeat_is_caught():
    class Cheater:
        name = "cheater"

        def act(self, obs, rng, greedy=False):
            return np.zeros(len(obs.users), dtype=np.int64)

    cfg = EvaluationConfig(n_users=5, seeds=[0], mode="no-repeat", quit=QuitConfig(quit=False))
    with pytest.raises(RuntimeError, match="forbidden"):
        evaluate_policy(Cheater(), tiny_world(), cfg)


def test_heuristics_rank_as_expected_on_a_structured_world():
    world = tiny_world(n_items=60)
    logs = pd.DataFrame({"user_id": [0, 0, 1, 2], "item_id": [5, 7, 5, 9]})
    counts = item_popularity(logs, world)
    assert counts[5] == 2 and counts[7] == 1 and counts.sum() == 4
    cfg = EvaluationConfig(n_users=20, seeds=[0, 1, 2])
    r_traj = {
        name: summarize(evaluate_policy(make_heuristic(name, world, logs, 2.0), world, cfg))[
            "R_traj"
        ]["mean"]
        for name in ("random", "greedy", "oracle")
    }
    assert r_traj["oracle"] > r_traj["greedy"] > r_traj["random"]


def test_heuristics_respect_the_episode_history():
    world = tiny_world()
    distances = pairwise_euclidean(world.item_embeddings)
    policies = [
        RandomPolicy(),
        PopularityPolicy(np.arange(world.n_items, dtype=np.float32)),
        GreedyPolicy(world.rewards["train"], distances, world.distance_threshold),
        OraclePolicy(world.rewards["test"], 2.0, distances, world.distance_threshold),
    ]
    cfg = EvaluationConfig(
        n_users=20, seeds=[0], mode="no-repeat", quit=QuitConfig(quit=False, max_turns=30)
    )
    for policy in policies:  # would raise if a heuristic repeated an item
        out = summarize(evaluate_policy(policy, world, cfg))
        assert out["quit_max_turn"]["mean"] == 20
