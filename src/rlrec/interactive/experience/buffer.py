"""Replay of environment transitions, and IL-Rec's mixed sampling with demonstrations
(docs/ilrec.md#mixed-replay).

`ReplayBuffer` keeps the last `capacity` transitions in preallocated arrays (a ring).

`mixed_sample` is the release's "global_priority" sampler: a batch drawn without replacement in
which, at each draw, the environment source is chosen with probability proportional to
env_priority x (unused env records) and the demonstration source proportional to the summed
weights of the unused demonstrations; within a source, env records are uniform and demos are
proportional to their weight. That is exactly weighted sampling without replacement over all
records with weight env_priority per env record and w_i per demo, which `weighted_sample_without_
replacement` draws in one vectorised pass (Efraimidis & Spirakis 2006: the n largest u^(1/w)).
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from rlrec.interactive.experience.transitions import Transitions


class ReplayBuffer:
    def __init__(self, capacity: int, window: int) -> None:
        if capacity < 1:
            raise ValueError("replay capacity must be >= 1")
        self.capacity = capacity
        empty = Transitions.empty(window)
        self._arrays = {
            f.name: np.zeros(
                (capacity, *getattr(empty, f.name).shape[1:]), getattr(empty, f.name).dtype
            )
            for f in fields(Transitions)
        }
        self._next = 0  # write position
        self._size = 0
        self.added = 0  # transitions ever added

    def __len__(self) -> int:
        return self._size

    def add(self, batch: Transitions) -> None:
        n = len(batch)
        if n > self.capacity:  # only the newest `capacity` survive anyway
            batch = batch.take(np.arange(n - self.capacity, n))
            n = self.capacity
        slots = (self._next + np.arange(n)) % self.capacity
        for name, array in self._arrays.items():
            array[slots] = getattr(batch, name)
        self._next = int((self._next + n) % self.capacity)
        self._size = min(self._size + n, self.capacity)
        self.added += n

    def get(self, index: np.ndarray) -> Transitions:
        """Records by position in [0, len) (0 = oldest kept)."""
        slots = (self._next - self._size + np.asarray(index)) % self.capacity
        return Transitions(**{k: v[slots] for k, v in self._arrays.items()})

    def sample(self, n: int, rng: np.random.Generator) -> Transitions:
        """n records uniformly with replacement."""
        return self.get(rng.integers(0, self._size, n))

    def recent(self, n: int) -> Transitions:
        """The newest min(n, len) records."""
        n = min(n, self._size)
        return self.get(np.arange(self._size - n, self._size))

    def state_dict(self) -> dict[str, np.ndarray]:
        return {**self.get(np.arange(self._size)).__dict__, "added": self.added}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self._next = self._size = 0
        data = {k: np.asarray(v) for k, v in state.items() if k != "added"}
        if len(data["actions"]):
            self.add(Transitions(**data))
        self.added = int(state["added"])


def weighted_sample_without_replacement(
    weights: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    """Indices of n records drawn without replacement with probability proportional to
    `weights` at each draw (all of them when n >= number of positive weights)."""
    weights = np.asarray(weights, dtype=np.float64)
    positive = weights > 0
    keys = np.full(len(weights), -np.inf)
    keys[positive] = np.log(rng.random(int(positive.sum()))) / weights[positive]
    n = min(n, int(positive.sum()))
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    return np.argpartition(-keys, n - 1)[:n]


def mixed_sample(
    env: ReplayBuffer,
    demos: Transitions | None,
    demo_weights: np.ndarray | None,
    n: int,
    env_priority: float,
    rng: np.random.Generator,
) -> tuple[Transitions, np.ndarray, np.ndarray]:
    """(batch, is_demo [n] bool, weight [n]: the demo weight, 1 for env records)."""
    n_env = len(env)
    n_demo = 0 if demos is None else len(demos)
    weights = np.concatenate([np.full(n_env, env_priority), demo_weights if n_demo else []])
    index = weighted_sample_without_replacement(weights, n, rng)
    from_env = index < n_env
    parts = []
    if from_env.any():
        parts.append(env.get(index[from_env]))
    if (~from_env).any():
        parts.append(demos.take(index[~from_env] - n_env))
    batch = Transitions.concat(parts)
    is_demo = np.concatenate([np.zeros(from_env.sum(), bool), np.ones((~from_env).sum(), bool)])
    w = np.ones(len(batch), dtype=np.float32)
    if n_demo:
        w[is_demo] = demo_weights[index[~from_env] - n_env]
    return batch, is_demo, w
