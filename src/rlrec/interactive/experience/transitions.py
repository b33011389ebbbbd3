"""Batches of (state, action, reward, next state) as NumPy arrays: the one currency between
rollouts, replay buffers, logged datasets, demonstrations and every learner.

A state is what every interactive policy sees (docs/ilrec.md#networks): the user's row in the reward
matrix and the last W (item, reward) pairs, oldest first, left-padded with item -1 / reward 0. The
next state is the window with (action, reward) appended and the oldest pair dropped, so it is never
stored: `next_window` derives it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

PAD = -1  # item id of an empty window position


@dataclass
class Transitions:
    """N transitions; every field is an array whose first axis has length N."""

    users: np.ndarray  # [N] int64   rows of the split's reward matrix
    window_items: np.ndarray  # [N, W] int64  oldest first, PAD where empty
    window_rewards: np.ndarray  # [N, W] float32
    actions: np.ndarray  # [N] int64
    rewards: np.ndarray  # [N] float32  the world model's reward of the action
    done: np.ndarray  # [N] bool     the episode ended at this step (quit or max turns)
    episodes: np.ndarray  # [N] int64  episode id (steps of one episode share it, in order)

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def window(self) -> int:
        return self.window_items.shape[1]

    def take(self, index: np.ndarray) -> Transitions:
        return Transitions(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def next_window(self) -> tuple[np.ndarray, np.ndarray]:
        """([N, W] items, [N, W] rewards) of the state after each transition."""
        items = np.concatenate([self.window_items[:, 1:], self.actions[:, None]], axis=1)
        rewards = np.concatenate([self.window_rewards[:, 1:], self.rewards[:, None]], axis=1)
        return items, rewards.astype(np.float32, copy=False)

    def with_rewards(self, rewards: np.ndarray) -> Transitions:
        return replace(self, rewards=np.asarray(rewards, dtype=np.float32))

    @classmethod
    def empty(cls, window: int) -> Transitions:
        return cls(
            users=np.zeros(0, np.int64),
            window_items=np.zeros((0, window), np.int64),
            window_rewards=np.zeros((0, window), np.float32),
            actions=np.zeros(0, np.int64),
            rewards=np.zeros(0, np.float32),
            done=np.zeros(0, bool),
            episodes=np.zeros(0, np.int64),
        )

    @classmethod
    def concat(cls, parts: list[Transitions]) -> Transitions:
        if not parts:
            raise ValueError("concat needs at least one Transitions")
        return cls(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)}
        )


def discounted_returns(rewards: np.ndarray, episodes: np.ndarray, gamma: float) -> np.ndarray:
    """G_t = sum_k gamma^k r_{t+k} within each episode; steps of an episode must be contiguous
    and in order (as every producer of `Transitions` writes them)."""
    rewards = np.asarray(rewards, dtype=np.float64)
    out = np.zeros_like(rewards)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        if t == len(rewards) - 1 or episodes[t + 1] != episodes[t]:
            running = 0.0
        running = rewards[t] + gamma * running
        out[t] = running
    return out


def windows_from_episodes(
    users: np.ndarray,
    items: np.ndarray,
    rewards: np.ndarray,
    episodes: np.ndarray,
    window: int,
) -> Transitions:
    """Transitions of whole episodes given as flat (user, item, reward) steps in order; each
    episode's last step is `done`. Used for logged sessions and demonstrations."""
    n = len(items)
    items = np.asarray(items, dtype=np.int64)
    rewards = np.asarray(rewards, dtype=np.float32)
    episodes = np.asarray(episodes, dtype=np.int64)
    start = np.ones(n, dtype=bool)
    start[1:] = episodes[1:] != episodes[:-1]
    first = np.maximum.accumulate(np.where(start, np.arange(n), 0))
    step = np.arange(n) - first
    win_items = np.full((n, window), PAD, dtype=np.int64)
    win_rewards = np.zeros((n, window), dtype=np.float32)
    for lag in range(1, window + 1):  # window position window-lag holds the step t-lag
        ok = step >= lag
        idx = np.nonzero(ok)[0]
        win_items[idx, window - lag] = items[idx - lag]
        win_rewards[idx, window - lag] = rewards[idx - lag]
    done = np.zeros(n, dtype=bool)
    done[:-1] = episodes[1:] != episodes[:-1]
    if n:
        done[-1] = True
    return Transitions(
        users=np.asarray(users, dtype=np.int64),
        window_items=win_items,
        window_rewards=win_rewards,
        actions=items,
        rewards=rewards,
        done=done,
        episodes=episodes,
    )
