"""States and minibatches of transitions as tensors, what every network reads.

A state is (user row, the last W recommended items, their rewards); `NEW_USER` (-1) is a user
outside the train split (every test user), `PAD` (-1) an empty window position
(`transitions.PAD`). `state_batch` wraps NumPy state arrays, `to_batch` a whole minibatch of
`Transitions` (states, next states with the action appended, actions, rewards, done flags).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rlrec.interactive.experience.transitions import Transitions

NEW_USER = -1  # user id of a user outside the train split


@dataclass
class StateBatch:
    users: torch.Tensor  # [B] long
    items: torch.Tensor  # [B, W] long, PAD (-1) where empty
    rewards: torch.Tensor  # [B, W] float

    def __len__(self) -> int:
        return self.users.shape[0]


def state_batch(users: np.ndarray, items: np.ndarray, rewards: np.ndarray) -> StateBatch:
    """Wrap NumPy state arrays as tensors (no copy where the dtypes already match)."""
    return StateBatch(
        as_tensor(users, np.int64), as_tensor(items, np.int64), as_tensor(rewards, np.float32)
    )


def as_tensor(array: np.ndarray, dtype: type) -> torch.Tensor:
    """A tensor over `array` (copied only when needed: torch refuses read-only memory)."""
    return torch.from_numpy(np.require(array, dtype=dtype, requirements=["C", "W"]))


@dataclass
class Batch:
    """A minibatch of transitions as tensors."""

    s: StateBatch  # states
    next_s: StateBatch  # next states (the window with the action appended)
    actions: torch.Tensor  # [B] long
    rewards: torch.Tensor  # [B] float
    done: torch.Tensor  # [B] float, 1.0 where the episode ended (no bootstrap)


def to_batch(t: Transitions) -> Batch:
    """States, next states, actions, rewards and done flags of transitions as tensors."""
    next_items, next_rewards = t.next_window()
    return Batch(
        s=state_batch(t.users, t.window_items, t.window_rewards),
        next_s=state_batch(t.users, next_items, next_rewards),
        actions=as_tensor(t.actions, np.int64),
        rewards=as_tensor(t.rewards, np.float32),
        done=as_tensor(t.done, np.float32),
    )
