"""The quit rule, hand-checked; the single and vectorised environments agree step by step."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env

from rlrec.errors import DataError
from rlrec.interactive.env import REASON_NAMES, QuitConfig, Reason, RecEnv, VectorRecEnv
from rlrec.interactive.world.worldmodel import WorldModel

# ------------------------------------------------------------------ a world small enough to know
# 3 users x 6 items. All items are 10 apart except 0-1 (exactly the threshold: no quit) and
# 2-3 (0.5: quit).
THRESHOLD = 1.0
TINY_REWARDS = np.array(
    [
        [3.0, 3.0, 3.0, 3.0, 3.0, 3.0],  # user 0 likes everything
        [2.0, 1.99, 5.0, 5.0, 5.0, 5.0],  # user 1: item 0 exactly at the bar, item 1 below
        [1.0, 4.0, 4.0, 4.0, 4.0, 4.0],  # user 2 dislikes item 0
    ],
    dtype=np.float32,
)
TINY_DISTANCES = np.full((6, 6), 10.0, dtype=np.float32)
np.fill_diagonal(TINY_DISTANCES, 0.0)
TINY_DISTANCES[0, 1] = TINY_DISTANCES[1, 0] = 1.0
TINY_DISTANCES[2, 3] = TINY_DISTANCES[3, 2] = 0.5


def play_single(env: RecEnv, user: int, actions: list[int]) -> list[tuple[float, str, bool, bool]]:
    """(reward, reason, terminated, truncated) per step until the episode ends."""
    env.reset(options={"user": user})
    out = []
    for a in actions:
        _, reward, terminated, truncated, info = env.step(a)
        out.append((reward, info["reason"], terminated, truncated))
        if terminated or truncated:
            break
    return out


def play_vector(env: VectorRecEnv, user: int, actions: list[int]) -> list[tuple[float, str]]:
    env.reset(np.array([user]))
    out = []
    for a in actions:
        rewards, done, reasons = env.step(np.array([a]))
        out.append((float(rewards[0]), REASON_NAMES[reasons[0]]))
        if done[0]:
            break
    return out


def play(user: int, actions: list[int], threshold: float = THRESHOLD, **quit) -> list:
    """Play one episode in both environments, check they agree, return the single env's steps."""
    cfg = QuitConfig(**quit)
    single = play_single(RecEnv(TINY_REWARDS, TINY_DISTANCES, threshold, cfg), user, actions)
    vector = play_vector(VectorRecEnv(TINY_REWARDS, TINY_DISTANCES, threshold, cfg), user, actions)
    assert [s[:2] for s in single] == vector
    return single


def reasons(steps: list) -> list[str]:
    return [s[1] for s in steps]


# ------------------------------------------------------------------------------ each reason
def test_reward_at_the_bar_stays_and_below_quits_with_the_reward_counted():
    steps = play(1, [0, 1, 2])
    assert reasons(steps) == ["continue", "low_reward"]
    assert steps[0][0] == pytest.approx(2.0)
    assert steps[1][0] == pytest.approx(1.99)  # the terminal step's reward is returned
    assert steps[1][2:] == (True, False)  # terminated, not truncated


def test_low_reward_on_the_first_step_quits():
    steps = play(2, [0, 1])
    assert reasons(steps) == ["low_reward"]
    assert steps[0][0] == 1.0


def test_billp_variant_lets_a_low_reward_pass_on_step_one_only():
    steps = play(2, [0, 1, 0], check_first_step=False)
    assert reasons(steps) == ["continue", "continue", "low_reward"]
    assert [s[0] for s in steps] == [1.0, 4.0, 1.0]


def test_distance_exactly_at_the_threshold_stays_and_below_quits():
    assert reasons(play(0, [0, 1, 4])) == ["continue", "continue", "continue"]
    assert reasons(play(0, [2, 3])) == ["continue", "distance"]
    assert reasons(play(0, [3, 2])) == ["continue", "distance"]


def test_exact_repeat_quits_as_repeat_even_with_a_zero_threshold():
    assert reasons(play(0, [4, 4])) == ["continue", "repeat"]
    assert reasons(play(0, [4, 5, 4], threshold=0.0)) == ["continue", "continue", "repeat"]


def test_window_reaches_exactly_w_items_back():
    # 4 steps back: still in the window of W=4
    assert reasons(play(0, [0, 1, 2, 4, 0]))[-1] == "repeat"
    assert reasons(play(0, [2, 0, 1, 4, 3]))[-1] == "distance"
    # 5 steps back: outside the window, no quit
    assert reasons(play(0, [0, 1, 2, 4, 5, 0])) == ["continue"] * 6
    assert reasons(play(0, [2, 0, 1, 4, 5, 3])) == ["continue"] * 6
    # a smaller window forgets sooner
    assert reasons(play(0, [4, 5, 0, 4], window=2)) == ["continue"] * 4


def test_episode_memory_remembers_repeats_beyond_the_window():
    # 5 steps back: the window forgets item 0, the episode memory does not
    assert reasons(play(0, [0, 1, 2, 4, 5, 0], memory="episode"))[-1] == "repeat"
    assert reasons(play(0, [4, 5, 0, 4], window=2, memory="episode")) == [
        *["continue"] * 3,
        "repeat",
    ]
    # distance still looks at the last W items only; new items continue
    assert reasons(play(0, [2, 0, 1, 4, 5, 3], memory="episode")) == ["continue"] * 6
    # low reward comes before repeat, as with the window memory
    assert reasons(play(1, [1, 2, 1], check_first_step=False, memory="episode"))[-1] == (
        "low_reward"
    )


def test_reasons_are_checked_in_order():
    # low reward before repeat (BiLLP variant so that step 1 passes)
    assert reasons(play(1, [1, 1], check_first_step=False)) == ["continue", "low_reward"]
    # repeat before distance (an exact repeat also has distance 0 < threshold)
    assert reasons(play(0, [2, 2])) == ["continue", "repeat"]
    # a quit rule before max_turn on the last allowed step
    assert reasons(play(0, [0, 0], max_turns=2)) == ["continue", "repeat"]


def test_max_turn_truncates_at_exactly_max_turns():
    steps = play(0, [0, 2, 4, 5, 1], max_turns=3)
    assert reasons(steps) == ["continue", "continue", "max_turn"]
    assert steps[-1][2:] == (False, True)  # truncated, not terminated
    assert sum(s[0] for s in steps) == pytest.approx(9.0)


def test_no_quit_mode_runs_exactly_max_turns():
    steps = play(2, [0, 0, 0, 0, 0, 0, 0], quit=False, max_turns=5)
    assert reasons(steps) == ["continue"] * 4 + ["max_turn"]
    assert sum(s[0] for s in steps) == 5.0


def test_observation_is_oldest_first_left_padded():
    env = RecEnv(TINY_REWARDS, TINY_DISTANCES, THRESHOLD)
    obs, info = env.reset(options={"user": 0})
    assert info["user"] == 0
    assert obs["user"] == 0
    assert obs["items"].tolist() == [6, 6, 6, 6]
    assert obs["rewards"].tolist() == [0.0, 0.0, 0.0, 0.0]
    obs, *_ = env.step(2)
    assert obs["items"].tolist() == [6, 6, 6, 2]
    assert obs["rewards"].tolist() == [0.0, 0.0, 0.0, 3.0]
    for a in (4, 0, 5, 1):
        obs, _, terminated, truncated, info = env.step(a)
    assert (terminated, truncated, info) == (False, False, {"reason": "continue", "turn": 5})
    assert obs["items"].tolist() == [4, 0, 5, 1]  # the oldest item (2) has left the window


def test_step_after_the_end_needs_reset():
    env = RecEnv(TINY_REWARDS, TINY_DISTANCES, THRESHOLD)
    env.reset(options={"user": 2})
    _, _, terminated, _, _ = env.step(0)
    assert terminated
    with pytest.raises(RuntimeError, match="reset"):
        env.step(1)


def test_check_env_passes():
    env = RecEnv(TINY_REWARDS, TINY_DISTANCES, THRESHOLD, user_ids=np.array([7, 8, 9]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=True)
    _, info = env.reset(seed=3)
    assert info["user_id"] in (7, 8, 9)


def test_check_env_passes_on_a_random_float_matrix():
    rng = np.random.default_rng(5)
    rewards = rng.uniform(-0.3, 5.3, (40, 25))  # float64 in, float32 inside
    distances = rng.uniform(0.0, 1.0, (25, 25))
    env = RecEnv(rewards, distances, 0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=True)
    assert env.observation_space["rewards"].low[0] == np.float32(rewards.min())


def test_shapes_are_checked():
    with pytest.raises(DataError, match="distances"):
        RecEnv(TINY_REWARDS, TINY_DISTANCES[:5, :5], THRESHOLD)
    with pytest.raises(DataError, match="rewards"):
        VectorRecEnv(TINY_REWARDS[0], TINY_DISTANCES, THRESHOLD)
    env = VectorRecEnv(TINY_REWARDS, TINY_DISTANCES, THRESHOLD)
    with pytest.raises(ValueError, match="user rows"):
        env.reset(np.array([0, 3]))
    env.reset(np.array([0, 1]))
    with pytest.raises(ValueError, match="actions"):
        env.step(np.array([0, 6]))
    with pytest.raises(ValueError, match="shape"):
        env.step(np.array([0]))


# ---------------------------------------------------------------------- the vectorised env
def test_finished_slots_are_ignored():
    env = VectorRecEnv(TINY_REWARDS, TINY_DISTANCES, THRESHOLD)
    env.reset(np.array([2, 0]))
    rewards, done, codes = env.step(np.array([0, 0]))  # user 2 quits on item 0
    assert rewards.tolist() == [1.0, 3.0]
    assert done.tolist() == [True, False]
    assert codes.tolist() == [Reason.LOW_REWARD, Reason.CONTINUE]
    rewards, done, codes = env.step(np.array([1, 4]))
    assert rewards.tolist() == [0.0, 3.0]  # slot 0 is over: no reward, reason kept
    assert done.tolist() == [True, False]
    assert codes.tolist() == [Reason.LOW_REWARD, Reason.CONTINUE]
    assert env.turn.tolist() == [1, 2]
    assert env.window_items().tolist() == [[-1, -1, -1, 0], [-1, -1, 0, 4]]
    assert env.window_items(pad=6)[0].tolist() == [6, 6, 6, 0]
    assert env.window_rewards().tolist() == [[0, 0, 0, 1.0], [0, 0, 3.0, 3.0]]
    rewards, done, codes = env.step(np.array([1, 4]))
    assert done.tolist() == [True, True]
    assert codes.tolist() == [Reason.LOW_REWARD, Reason.REPEAT]


def test_recommended_mask_tracks_the_episode():
    env = VectorRecEnv(TINY_REWARDS, TINY_DISTANCES, THRESHOLD, track_history=True)
    env.reset(np.array([0, 1]))
    env.step(np.array([0, 2]))
    env.step(np.array([4, 4]))
    mask = env.recommended_mask()
    assert mask.shape == (2, 6)
    assert np.flatnonzero(mask[0]).tolist() == [0, 4]
    assert np.flatnonzero(mask[1]).tolist() == [2, 4]
    env.reset(np.array([0, 1]))
    assert not env.recommended_mask().any()
    with pytest.raises(ValueError, match="track_history"):
        VectorRecEnv(TINY_REWARDS, TINY_DISTANCES, THRESHOLD).recommended_mask()


def test_autoreset_restarts_slots_with_users_from_the_pool():
    pool = np.array([0, 2])
    env = VectorRecEnv(
        TINY_REWARDS,
        TINY_DISTANCES,
        THRESHOLD,
        autoreset=True,
        rng=np.random.default_rng(0),
        user_pool=pool,
        track_history=True,
    )
    env.reset(env.sample_users(64))
    assert set(env.users.tolist()) <= {0, 2}
    restarted = 0
    rng = np.random.default_rng(1)
    for _ in range(30):
        _, done, codes = env.step(rng.integers(0, 6, 64))
        assert (codes[done] != Reason.CONTINUE).all()
        assert (codes[~done] == Reason.CONTINUE).all()
        assert env.active.all()
        assert set(env.users.tolist()) <= {0, 2}
        assert (env.turn[done] == 0).all()
        assert (env.window_items()[done] == -1).all()
        assert not env.recommended_mask()[done].any()
        restarted += int(done.sum())
    assert restarted > 64
    with pytest.raises(ValueError, match="rng"):
        VectorRecEnv(TINY_REWARDS, TINY_DISTANCES, THRESHOLD, autoreset=True)


def test_from_world():
    world = WorldModel(
        rewards={"train": TINY_REWARDS, "test": TINY_REWARDS[::-1].copy()},
        users={"train": np.array([10, 11, 12]), "test": np.array([20, 21, 22])},
        items=pd.DataFrame({"item_id": np.arange(6)}),
        distance_threshold=THRESHOLD,
        distance_matrices={"train": TINY_DISTANCES, "test": TINY_DISTANCES},
    )
    env = RecEnv.from_world(world, "test", QuitConfig(window=2))
    _, info = env.reset(options={"user": 0})
    assert info["user_id"] == 20
    assert env.observation_space["items"].shape == (2,)
    assert env.step(0)[2:] == (True, False, {"reason": "low_reward", "turn": 1})
    vec = VectorRecEnv.from_world(world, "train", track_history=True)
    vec.reset(np.array([2]))
    assert vec.step(np.array([0]))[0].tolist() == [1.0]


# ------------------------------------------------------- single and vectorised: same trajectory
def random_world(rng: np.random.Generator, n_users: int = 24, n_items: int = 30):
    """Rewards from a small set that includes the bar 2.0 exactly; distances with exact ties at
    the threshold 1.0. A quarter of the users never get a low reward, and items i and i+k
    (k <= 4, mod I) are never near, so cycling through the catalogue can last any length."""
    values = np.array([0.5, 1.99, 2.0, 2.01, 3.0, 4.5, 5.3], dtype=np.float32)
    low_share = np.where(rng.random((n_users, 1)) < 0.25, 0.0, rng.uniform(0, 0.3, (n_users, 1)))
    low = rng.random((n_users, n_items)) < low_share
    rewards = np.where(
        low, rng.choice(values[:2], (n_users, n_items)), rng.choice(values[2:], (n_users, n_items))
    )
    d = rng.choice(np.array([0.25, 1.0, 3.0, 5.0, 8.0], dtype=np.float32), (n_items, n_items))
    distances = np.triu(d, 1) + np.triu(d, 1).T
    i = np.arange(n_items)
    for k in range(1, 5):
        far = rng.choice(np.array([1.0, 3.0], dtype=np.float32), n_items)
        distances[i, (i + k) % n_items] = distances[(i + k) % n_items, i] = far
    return rewards.astype(np.float32), distances.astype(np.float32), 1.0


def random_actions(rng: np.random.Generator, n_steps: int, batch: int, n_items: int):
    """[T, B] actions; each slot either draws from 5 items (repeats and near items), from the
    whole catalogue, or cycles through it (long episodes)."""
    mode = rng.integers(0, 3, batch)
    uniform = rng.integers(0, n_items, (n_steps, batch))
    subsets = rng.integers(0, n_items, (batch, 5))
    few = subsets[np.arange(batch), rng.integers(0, 5, (n_steps, batch))]
    cycle = (rng.integers(0, n_items, batch) + np.arange(n_steps)[:, None]) % n_items
    return np.select([mode == 0, mode == 1], [few, uniform], cycle)


QUIT_VARIANTS = [
    pytest.param({}, id="default"),
    pytest.param({"check_first_step": False}, id="billp-first-step"),
    pytest.param({"quit": False, "max_turns": 9}, id="no-quit"),
    pytest.param({"max_turns": 6, "window": 2}, id="short-window"),
    pytest.param({"max_turns": 12, "low_reward": 0.0}, id="no-low-reward"),
    pytest.param({"max_turns": 25, "memory": "episode"}, id="episode-memory"),
]


@pytest.mark.parametrize("quit_kwargs", QUIT_VARIANTS)
def test_single_and_vectorised_trajectories_are_identical(quit_kwargs):
    rng = np.random.default_rng(0)
    rewards, distances, threshold = random_world(rng)
    cfg = QuitConfig(**quit_kwargs)
    batch, n_steps = 200, cfg.max_turns + 3
    users = rng.integers(0, len(rewards), batch)
    actions = random_actions(rng, n_steps, batch, rewards.shape[1])
    single = RecEnv(rewards, distances, threshold, cfg)
    vector = VectorRecEnv(rewards, distances, threshold, cfg, track_history=True)
    vector.reset(users)
    n = rewards.shape[1]

    trajectories = []  # per step: (rewards, done, reasons, window items, window rewards)
    for t in range(n_steps):
        trajectories.append((*vector.step(actions[t]), vector.window_items(pad=n)))
        trajectories[-1] += (vector.window_rewards(), vector.recommended_mask().copy())

    seen = set()
    for b in range(batch):
        obs, _ = single.reset(options={"user": int(users[b])})
        over, last_code = False, Reason.CONTINUE
        for t in range(n_steps):
            r, done, codes, items, item_rewards, mask = trajectories[t]
            if over:  # finished slot: ignored, reason kept
                assert (r[b], done[b], codes[b]) == (0.0, True, last_code)
                continue
            obs, reward, terminated, truncated, info = single.step(int(actions[t, b]))
            assert reward == r[b]
            assert terminated or truncated or info["reason"] == "continue"
            assert info["reason"] == REASON_NAMES[codes[b]]
            assert (terminated or truncated) == done[b]
            assert truncated == (codes[b] == Reason.MAX_TURN)
            np.testing.assert_array_equal(obs["items"], items[b])
            np.testing.assert_array_equal(obs["rewards"], item_rewards[b])
            assert set(np.flatnonzero(mask[b])) == set(actions[: t + 1, b].tolist())
            seen.add(info["reason"])
            over, last_code = done[b], codes[b]
        assert over, "every episode ends within max_turns steps"

    if cfg.quit:
        assert seen == set(REASON_NAMES) - ({"low_reward"} if cfg.low_reward <= 0 else set())
    else:
        assert seen == {"continue", "max_turn"}


def test_autoreset_episodes_match_the_single_env():
    rng = np.random.default_rng(3)
    rewards, distances, threshold = random_world(rng)
    cfg = QuitConfig(max_turns=8)
    batch, n_steps = 64, 40
    vector = VectorRecEnv(
        rewards, distances, threshold, cfg, autoreset=True, rng=np.random.default_rng(4)
    )
    vector.reset(vector.sample_users(batch))
    actions = random_actions(rng, n_steps, batch, rewards.shape[1])
    episodes: list[list[tuple[int, int, float, int]]] = []
    current = [[] for _ in range(batch)]
    for t in range(n_steps):
        users = vector.users.copy()
        r, done, codes = vector.step(actions[t])
        for b in range(batch):
            current[b].append((int(users[b]), int(actions[t, b]), float(r[b]), int(codes[b])))
            if done[b]:
                episodes.append(current[b])
                current[b] = []
    assert len(episodes) > batch
    single = RecEnv(rewards, distances, threshold, cfg)
    for episode in episodes:
        assert len({u for u, *_ in episode}) == 1
        single.reset(options={"user": episode[0][0]})
        for _, a, r, code in episode:
            _, reward, _, _, info = single.step(a)
            assert (reward, info["reason"]) == (r, REASON_NAMES[code])
        assert single.done
