"""The interactive environment: a simulated user who quits (IL-Rec's `ILRecEnv`,
docs/ilrec.md#the-quit-rule).

Protocol. An episode is one user (a row u of a world model's reward matrix R [U, I]). Each step
the policy recommends one item a; the reward is R[u, a]; then the user decides whether to stay.
The reason the episode ends is the first rule that applies, checked in this order:

    low_reward  R[u, a] < low_reward (2.0): the user did not like it
    repeat      a is one of the last W (4) recommended items (`memory: episode`: one of
                every item recommended so far in the episode)
    distance    dist[a, h] < threshold for one of the last W recommended items h
    max_turn    the episode has reached max_turns (100) steps: truncated, not terminated
    continue    otherwise

Comparisons are strict (a reward of exactly 2.0 stays, a distance exactly at the threshold
stays) and done in float32, the dtype of the matrices. The release counts an exact repeat under
`distance` (its distance is 0); it is reported as `repeat` here, and it quits even when the
threshold is 0. Items more than W steps back never trigger a quit, unless
`QuitConfig.memory="episode"`: then the user remembers every item recommended in the episode
and an exact repeat of any of them quits (the distance rule still looks at the last W items).
Under the window-only memory a policy can cycle W + 1 good items for ever; the episode memory
closes that exploit, as the `no-repeat` evaluation mode does from the policy's side.

BiLLP variant (docs/ilrec.md#the-llm-environment-of-billp, the LLM environment that produced the
demonstrations): its check loops over the previous items, so on the first step nothing is checked,
not even a low reward. `QuitConfig.check_first_step=False` reproduces this. `QuitConfig.quit=False`
turns the quit rules off: episodes last exactly `max_turns` steps (the fixed-length evaluation
mode).

Counting (docs/ilrec.md#evaluation-protocol): the terminating step's reward is returned and counted,
as in the IL-Rec release and DORL; Len and R_traj include it.

Two implementations with the same semantics:
- `RecEnv`, a `gymnasium.Env` for one user, written step by step as a readable reference;
- `VectorRecEnv`, B users stepped at once with array operations only, for training and
  evaluation. Tests check that both produce identical trajectories.
"""

from __future__ import annotations

from collections import deque
from enum import IntEnum
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from pydantic import Field

from rlrec.config import Config
from rlrec.errors import DataError

if TYPE_CHECKING:
    from rlrec.interactive.world.worldmodel import WorldModel


class QuitConfig(Config):
    """The simulated user's quit rule (docs/ilrec.md#the-quit-rule)."""

    low_reward: float = Field(2.0, description="quit when the reward is strictly below this")
    window: int = Field(4, ge=1, description="W: compare with the last W recommended items")
    max_turns: int = Field(100, ge=1, description="truncate an episode after this many steps")
    check_first_step: bool = Field(
        True, description="apply the quit rules on step 1 (False: BiLLP's LLM environment)"
    )
    quit: bool = Field(
        True, description="apply low_reward/repeat/distance (False: exactly max_turns steps)"
    )
    memory: Literal["window", "episode"] = Field(
        "window",
        description="repeats quit within the last W items (window, the release) or within the "
        "whole episode (episode)",
    )


class Reason(IntEnum):
    """Why a step ended the episode (CONTINUE: it did not). Stored as int8 in the vector env."""

    CONTINUE = 0
    LOW_REWARD = 1
    REPEAT = 2
    DISTANCE = 3
    MAX_TURN = 4


REASON_NAMES: tuple[str, ...] = tuple(r.name.lower() for r in Reason)  # index = code
# plain ints for the vectorised hot path (enum attribute lookups cost microseconds)
_CONTINUE, _LOW_REWARD, _REPEAT, _DISTANCE, _MAX_TURN = (int(r) for r in Reason)


def _checked_matrices(
    rewards: np.ndarray, distances: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.float32]:
    """C-contiguous float32 views (copies only when needed) and the float32 threshold."""
    rewards = np.ascontiguousarray(rewards, dtype=np.float32)
    distances = np.ascontiguousarray(distances, dtype=np.float32)
    if rewards.ndim != 2 or rewards.shape[0] < 1 or rewards.shape[1] < 1:
        raise DataError(f"rewards must be a non-empty [U, I] matrix, got shape {rewards.shape}")
    n_items = rewards.shape[1]
    if distances.shape != (n_items, n_items):
        raise DataError(
            f"distances must be [I, I] = [{n_items}, {n_items}], got shape {distances.shape}"
        )
    if not np.isfinite(threshold):
        raise DataError(f"distance threshold must be finite, got {threshold}")
    return rewards, distances, np.float32(threshold)


class RecEnv(gym.Env):
    """One user at a time, step by step: the reference implementation of the quit rule.

    Observation (W = `quit.window`, oldest first, padded on the left):
        user     Discrete(U)               the user's row in the reward matrix
        items    MultiDiscrete([I+1] * W)  last W recommended items; pad id = I
        rewards  Box(lo, hi, (W,), f32)    their rewards; pad reward = 0
    Action: Discrete(I), an item. `reset(options={"user": row})` picks the user, otherwise a
    uniform random row from `np_random`. Quitting is `terminated`, `max_turn` is `truncated`;
    `info` holds "reason" (a name of `REASON_NAMES`) and "turn" (steps taken).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self,
        rewards: np.ndarray,
        distances: np.ndarray,
        threshold: float,
        quit: QuitConfig | None = None,
        user_ids: np.ndarray | None = None,
    ) -> None:
        self.rewards, self.distances, self.threshold = _checked_matrices(
            rewards, distances, threshold
        )
        self.quit = (quit or QuitConfig()).model_copy()  # read once: later edits do not leak in
        self.low_reward = np.float32(self.quit.low_reward)
        self.n_users, self.n_items = self.rewards.shape
        self.user_ids = None if user_ids is None else np.asarray(user_ids)
        w = self.quit.window
        lo = min(0.0, float(self.rewards.min()))
        hi = max(0.0, float(self.rewards.max()))
        self.observation_space = spaces.Dict(
            {
                "user": spaces.Discrete(self.n_users),
                "items": spaces.MultiDiscrete([self.n_items + 1] * w),
                "rewards": spaces.Box(np.float32(lo), np.float32(hi), (w,), np.float32),
            }
        )
        self.action_space = spaces.Discrete(self.n_items)
        self.user = 0
        self.turn = 0
        self.history: deque[tuple[int, np.float32]] = deque(maxlen=w)  # (item, reward)
        self.seen: set[int] = set()  # every item of the episode (memory: episode)
        self.done = True

    @classmethod
    def from_world(cls, world: WorldModel, split: str, quit: QuitConfig | None = None) -> RecEnv:
        """The environment of one split of a world model (train: training, test: evaluation)."""
        return cls(
            world.rewards[split],
            world.distances(split),
            world.threshold(split),
            quit,
            world.users[split],
        )

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        options = options or {}
        if "user" in options:
            user = int(options["user"])
            if not 0 <= user < self.n_users:
                raise ValueError(f"user row {user} is outside [0, {self.n_users})")
        else:
            user = int(self.np_random.integers(self.n_users))
        self.user = user
        self.turn = 0
        self.history.clear()
        self.seen.clear()
        self.done = False
        info: dict[str, Any] = {"user": user}
        if self.user_ids is not None:
            info["user_id"] = self.user_ids[user].item()
        return self._observation(), info

    def step(self, action: int) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        if self.done:
            raise RuntimeError("the episode has ended: call reset() first")
        item = int(action)
        if not 0 <= item < self.n_items:
            raise ValueError(f"action {item} is outside [0, {self.n_items})")
        reward = self.rewards[self.user, item]
        reason = self._reason(item, reward)  # against the items before this one
        self.turn += 1
        if reason == Reason.CONTINUE and self.turn >= self.quit.max_turns:
            reason = Reason.MAX_TURN
        self.history.append((item, reward))
        self.seen.add(item)
        self.done = reason != Reason.CONTINUE
        terminated = reason not in (Reason.CONTINUE, Reason.MAX_TURN)
        truncated = reason == Reason.MAX_TURN
        info = {"reason": REASON_NAMES[reason], "turn": self.turn}
        return self._observation(), float(reward), terminated, truncated, info

    def _reason(self, item: int, reward: np.float32) -> Reason:
        """The quit rules for recommending `item` after the last W items."""
        if not self.quit.quit:
            return Reason.CONTINUE
        if self.turn == 0 and not self.quit.check_first_step:
            return Reason.CONTINUE  # BiLLP: nothing is checked on the first step
        if reward < self.low_reward:
            return Reason.LOW_REWARD
        recent = [h for h, _ in self.history]
        if item in (self.seen if self.quit.memory == "episode" else recent):
            return Reason.REPEAT
        if any(self.distances[item, h] < self.threshold for h in recent):
            return Reason.DISTANCE
        return Reason.CONTINUE

    def _observation(self) -> dict[str, Any]:
        pad = self.quit.window - len(self.history)
        items = [self.n_items] * pad + [h for h, _ in self.history]
        rewards = [0.0] * pad + [r for _, r in self.history]
        return {
            "user": np.int64(self.user),
            "items": np.array(items, dtype=np.int64),
            "rewards": np.array(rewards, dtype=np.float32),
        }


class VectorRecEnv:
    """B users stepped at once with array operations; the semantics of `RecEnv`.

    State, per slot b: `users` [B] (reward-matrix rows), the last W items and rewards in a ring
    buffer (position turn % W; item -1 = empty), `turn` [B] (steps taken), `active` [B] and
    `reasons` [B] (int8 `Reason` codes). With `track_history=True`, `recommended_mask()` [B, I]
    holds every item recommended in the current episode (no-repeat evaluation; always on
    with `quit.memory="episode"`, whose repeat rule reads it).

    `reset(users)` starts one episode per given row. `step(actions)` returns (rewards [B] f32,
    done [B] bool, reasons [B] int8):
    - `autoreset=False`: slots whose episode has ended are ignored (reward 0, reason kept);
      `done` is True for every slot whose episode has ended, now or before.
    - `autoreset=True`: `done` marks the episodes that ended at this step (their reasons are
      returned); those slots restart at once with users drawn uniformly from `user_pool`
      using `rng`, so every slot is always live (training throughput).
    """

    def __init__(
        self,
        rewards: np.ndarray,
        distances: np.ndarray,
        threshold: float,
        quit: QuitConfig | None = None,
        *,
        autoreset: bool = False,
        rng: np.random.Generator | None = None,
        user_pool: np.ndarray | None = None,
        track_history: bool = False,
    ) -> None:
        self.rewards, self.distances, self.threshold = _checked_matrices(
            rewards, distances, threshold
        )
        self.quit = (quit or QuitConfig()).model_copy()  # read once: later edits do not leak in
        self.low_reward = np.float32(self.quit.low_reward)
        self.window = self.quit.window
        self.n_users, self.n_items = self.rewards.shape
        if autoreset and rng is None:
            raise ValueError("autoreset=True needs an rng (np.random.Generator) to draw users")
        self.autoreset = autoreset
        self.rng = rng
        pool = np.arange(self.n_users) if user_pool is None else np.asarray(user_pool)
        self.user_pool = self._checked_users(pool.astype(np.int64, copy=False))
        self.track_history = track_history or self.quit.memory == "episode"
        self._rewards_flat = self.rewards.reshape(-1)  # views: flat gathers are the fast path
        self._distances_flat = self.distances.reshape(-1)
        self._allocate(0)

    @classmethod
    def from_world(
        cls, world: WorldModel, split: str, quit: QuitConfig | None = None, **kwargs: Any
    ) -> VectorRecEnv:
        """The vectorised environment of one split of a world model (keywords as __init__)."""
        return cls(
            world.rewards[split], world.distances(split), world.threshold(split), quit, **kwargs
        )

    # ----------------------------------------------------------------------------- state
    def _allocate(self, batch: int) -> None:
        w = self.window
        self.batch_size = batch
        self.users = np.zeros(batch, dtype=np.int64)
        self.turn = np.zeros(batch, dtype=np.int64)
        self.active = np.zeros(batch, dtype=bool)
        self.reasons = np.zeros(batch, dtype=np.int8)
        self._items = np.full((batch, w), -1, dtype=np.int64)  # ring buffer, -1 = empty
        self._item_rewards = np.zeros((batch, w), dtype=np.float32)
        self._history = np.zeros((batch, self.n_items) if self.track_history else (0, 0), bool)
        # scratch buffers, reused every step
        self._rows = np.arange(batch)
        self._user_offset = np.zeros(batch, dtype=np.int64)  # users * I
        self._index = np.zeros(batch, dtype=np.int64)
        self._pos = np.zeros(batch, dtype=np.int64)
        self._pair_index = np.zeros((batch, w), dtype=np.int64)
        self._pair_dist = np.zeros((batch, w), dtype=np.float32)
        self._pair_bool = np.zeros((batch, w), dtype=bool)
        self._valid = np.zeros((batch, w), dtype=bool)

    def _checked_users(self, users: np.ndarray) -> np.ndarray:
        if users.ndim != 1 or (users.size and (users.min() < 0 or users.max() >= self.n_users)):
            raise ValueError(f"user rows must be a 1-d array within [0, {self.n_users})")
        return users

    def sample_users(self, n: int) -> np.ndarray:
        """`n` rows drawn uniformly (with replacement) from `user_pool` with `rng`."""
        if self.rng is None or not len(self.user_pool):
            raise ValueError("sample_users needs an rng and a non-empty user_pool")
        return self.user_pool[self.rng.integers(0, len(self.user_pool), n)]

    def reset(self, users: np.ndarray) -> None:
        """Start one episode per user row; the batch size is len(users)."""
        users = self._checked_users(np.asarray(users, dtype=np.int64))
        if len(users) != self.batch_size:
            self._allocate(len(users))
        self._start(self._rows, users)

    def _start(self, slots: np.ndarray, users: np.ndarray) -> None:
        self.users[slots] = users
        self._user_offset[slots] = users * self.n_items
        self.turn[slots] = 0
        self.active[slots] = True
        self.reasons[slots] = _CONTINUE
        self._items[slots] = -1
        self._item_rewards[slots] = 0.0
        if self.track_history:
            self._history[slots] = False

    # ----------------------------------------------------------------------------- step
    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Recommend actions[b] to slot b: (rewards [B] f32, done [B] bool, reasons [B] int8)."""
        a = np.asarray(actions)
        if a.shape != (self.batch_size,):
            raise ValueError(f"actions must have shape ({self.batch_size},), got {a.shape}")
        a = a.astype(np.int64, copy=False)
        if a.size and (a.min() < 0 or a.max() >= self.n_items):
            raise ValueError(f"actions must lie in [0, {self.n_items})")
        live = self.active
        all_live = self.autoreset or bool(live.all())

        # reward = R[u, a]
        np.add(self._user_offset, a, out=self._index)
        rewards = self._rewards_flat.take(self._index, mode="clip")
        if not all_live:
            rewards *= live

        reasons = self._reasons(a, rewards)
        if not all_live:
            np.copyto(reasons, self.reasons, where=~live)

        # append (a, reward) to the window: ring position turn % W
        np.remainder(self.turn, self.window, out=self._pos)
        if all_live:
            self._items[self._rows, self._pos] = a
            self._item_rewards[self._rows, self._pos] = rewards
            if self.track_history:
                self._history[self._rows, a] = True
            self.turn += 1
        else:
            rows, pos = self._rows[live], self._pos[live]
            self._items[rows, pos] = a[live]
            self._item_rewards[rows, pos] = rewards[live]
            if self.track_history:
                self._history[rows, a[live]] = True
            self.turn += live

        ended = reasons != _CONTINUE
        self.reasons[:] = reasons
        if not self.autoreset:
            self.active &= ~ended
            return rewards, ended, reasons
        slots = ended.nonzero()[0]
        if slots.size:
            self._start(slots, self.sample_users(slots.size))
        return rewards, ended, reasons

    def _reasons(self, a: np.ndarray, rewards: np.ndarray) -> np.ndarray:
        """[B] int8 reason codes for recommending a [B] given the window (before appending)."""
        reasons = np.zeros(self.batch_size, dtype=np.int8)
        # max_turn first, then overwritten by the quit rules in reverse priority order
        reasons[self.turn >= self.quit.max_turns - 1] = _MAX_TURN
        if not self.quit.quit:
            return reasons
        items, valid, pair = self._items, self._valid, self._pair_bool
        np.greater_equal(items, 0, out=valid)
        # distance: dist[a, h] < threshold for a valid window item h (one flat gather)
        np.multiply(a, self.n_items, out=self._index)
        np.add(self._index[:, None], items, out=self._pair_index)
        self._distances_flat.take(self._pair_index, out=self._pair_dist, mode="clip")
        np.less(self._pair_dist, self.threshold, out=pair)
        pair &= valid
        reasons[pair.any(1)] = _DISTANCE
        # repeat: a is one of the window items (empty slots hold -1, never equal), or with the
        # episode memory one of the episode's items (the history before this step)
        if self.quit.memory == "episode":
            reasons[self._history[self._rows, a]] = _REPEAT
        else:
            np.equal(items, a[:, None], out=pair)
            reasons[pair.any(1)] = _REPEAT
        low = rewards < self.low_reward
        if not self.quit.check_first_step:
            low &= self.turn > 0  # BiLLP: nothing is checked on the first step
        reasons[low] = _LOW_REWARD
        return reasons

    # ----------------------------------------------------------------------------- views
    def window_items(self, pad: int = -1) -> np.ndarray:
        """[B, W] last W recommended items, oldest first, left-padded with `pad` (new array).

        `pad=-1` (default) marks empty positions; `pad=n_items` gives `RecEnv`'s observation.
        """
        view = self._window(self._items)
        if pad != -1:
            view[view < 0] = pad
        return view

    def window_rewards(self) -> np.ndarray:
        """[B, W] float32 rewards of `window_items()`, 0 where empty (new array)."""
        return self._window(self._item_rewards)

    def _window(self, ring: np.ndarray) -> np.ndarray:
        # oldest-first position j of slot b lives at ring position (turn[b] + j) % W; positions
        # never written (turn < W) are the empty ones, so the padding falls on the left
        np.add(self.turn[:, None] % self.window, np.arange(self.window), out=self._pair_index)
        np.remainder(self._pair_index, self.window, out=self._pair_index)
        return np.take_along_axis(ring, self._pair_index, axis=1)

    def recommended_mask(self) -> np.ndarray:
        """[B, I] bool: items recommended so far in each slot's episode (a live view)."""
        if not self.track_history:
            raise ValueError("recommended_mask() needs VectorRecEnv(..., track_history=True)")
        return self._history

    @property
    def done(self) -> np.ndarray:
        """[B] bool: slots whose episode has ended (always False with autoreset)."""
        return ~self.active

    def truncated(self, reasons: np.ndarray) -> np.ndarray:
        """[B] bool: which of `reasons` are truncations (max_turn) rather than quits."""
        return reasons == _MAX_TURN
