"""Heuristic policies: random, popularity, greedy on the train world model, and the oracle.

None of them learns. Each ranks the catalogue its own way and recommends, per user, the
best-ranked item that is new to the episode (a heuristic that repeats itself quits at once):
- `random`: a uniform random order;
- `popularity`: the most-interacted items of the train users' logs first;
- `greedy`: the highest mean predicted reward over the *train* users of the world model first
  (test users are disjoint from train users, so it cannot personalise);
- `oracle`: per test user, the highest reward of the *test* matrix first, items below the
  low-reward threshold last. It reads the evaluation simulator itself: an upper bound for
  reference, never a baseline to beat.

With `guard=True` (the default for popularity, greedy and oracle) a heuristic also skips items
within the quit distance of the last W recommended items, as measured by the world model it is
built from (train distances, test distances for the oracle): the quit rule is known, only the
ranking differs. `random` is unguarded by default, the floor of the table. Unguarded runs of
random and greedy measure how the simulator treats a naive policy (the world model's
calibration).
"""

from __future__ import annotations

import numpy as np

from rlrec.errors import ConfigError
from rlrec.interactive.evaluate import Observation

_NEG = np.float32(-np.inf)


def _masked_argmax(scores: np.ndarray, banned: np.ndarray) -> np.ndarray:
    """Row-wise argmax of `scores` over items not `banned`; rows with all banned fall back to
    the unbanned argmax of the raw scores."""
    masked = np.where(banned, _NEG, scores)
    best = masked.argmax(1)
    stuck = ~np.isfinite(masked[np.arange(len(best)), best])
    if stuck.any():
        best[stuck] = scores[stuck].argmax(1)
    return best


def _too_close(obs: Observation, distances: np.ndarray, threshold: float) -> np.ndarray:
    """[B, I] True where an item lies within `threshold` of one of the window's items."""
    items = obs.window_items  # [B, W], -1 = empty
    valid = items >= 0
    d = distances[np.where(valid, items, 0)]  # [B, W, I]
    return ((d < threshold) & valid[:, :, None]).any(1)


class RankingPolicy:
    """Recommends the best-scored item new to the episode (and, guarded, not too close)."""

    name = "ranking"

    def __init__(self, distances: np.ndarray | None = None, threshold: float = 0.0) -> None:
        self.distances = distances  # None: unguarded
        self.threshold = threshold

    def scores(self, obs: Observation, rng: np.random.Generator) -> np.ndarray:
        """[B, I] or [I] scores; higher is recommended first."""
        raise NotImplementedError

    def act(self, obs: Observation, rng: np.random.Generator, greedy: bool = False) -> np.ndarray:
        scores = self.scores(obs, rng)
        scores = np.broadcast_to(scores, (len(obs.users), obs.n_items))
        banned = obs.recommended
        if self.distances is not None:
            banned = banned | _too_close(obs, self.distances, self.threshold)
        return _masked_argmax(scores, banned)


class RandomPolicy(RankingPolicy):
    name = "random"

    def scores(self, obs: Observation, rng: np.random.Generator) -> np.ndarray:
        return rng.random((len(obs.users), obs.n_items), dtype=np.float32)


class PopularityPolicy(RankingPolicy):
    """Most interacted items first; `counts` [I] from the logs."""

    name = "popularity"

    def __init__(self, counts: np.ndarray, distances=None, threshold: float = 0.0) -> None:
        super().__init__(distances, threshold)
        self.counts = np.asarray(counts, dtype=np.float32)

    def scores(self, obs: Observation, rng: np.random.Generator) -> np.ndarray:
        return self.counts


class GreedyPolicy(RankingPolicy):
    """Highest mean predicted reward over the train users first."""

    name = "greedy"

    def __init__(self, train_rewards: np.ndarray, distances=None, threshold: float = 0.0) -> None:
        super().__init__(distances, threshold)
        self.expected = np.asarray(train_rewards, dtype=np.float32).mean(0)  # [I]

    def scores(self, obs: Observation, rng: np.random.Generator) -> np.ndarray:
        return self.expected


class OraclePolicy(RankingPolicy):
    """Upper bound: the test user's own rewards first, rewards below `low_reward` last."""

    name = "oracle"

    def __init__(
        self, test_rewards: np.ndarray, low_reward: float, distances=None, threshold: float = 0.0
    ) -> None:
        super().__init__(distances, threshold)
        self.rewards = test_rewards
        self.low_reward = low_reward

    def scores(self, obs: Observation, rng: np.random.Generator) -> np.ndarray:
        scores = np.asarray(self.rewards[obs.users], dtype=np.float32)
        return np.where(scores < self.low_reward, scores - 1e3, scores)


HEURISTICS = ("random", "popularity", "greedy", "oracle")


def item_popularity(interactions, world) -> np.ndarray:
    """[I] interaction counts of the world model's train users, in catalogue (column) order.

    Falls back to every user's interactions when the logs don't name the train users (BiLLP's
    own matrices index users by row, not by the ids of the histories).
    """
    train = interactions[interactions["user_id"].isin(np.asarray(world.users["train"]))]
    counts = (train if len(train) else interactions)["item_id"].value_counts()
    return counts.reindex(world.items["item_id"]).fillna(0).to_numpy(dtype=np.float32)


def make_heuristic(
    name: str, world, interactions, low_reward: float, guard: bool | None = None
) -> RankingPolicy:
    """Build heuristic `name` for evaluation on `world`'s test split; `guard=None` takes the
    default (all but random guarded)."""
    guard = name != "random" if guard is None else guard
    split = "test" if name == "oracle" else "train"
    distances = world.distances(split) if guard else None
    threshold = world.threshold(split)
    if name == "random":
        return RandomPolicy(distances, threshold)
    if name == "popularity":
        return PopularityPolicy(item_popularity(interactions, world), distances, threshold)
    if name == "greedy":
        return GreedyPolicy(world.rewards["train"], distances, threshold)
    if name == "oracle":
        return OraclePolicy(world.rewards["test"], low_reward, distances, threshold)
    raise ConfigError(f"unknown heuristic policy {name!r}; known: {', '.join(HEURISTICS)}")
