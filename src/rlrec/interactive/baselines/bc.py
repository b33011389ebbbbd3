"""Behaviour cloning (BC), and the plumbing every learned baseline shares.

BC (Pomerleau 1991; the standard imitation baseline of the offline-RL papers, e.g. Fujimoto et
al. 2019 §5 and Kumar et al. 2020 §6): maximise log pi(a | s) over the (state, action) pairs of a
fixed dataset,

    L_BC = - sum_n w_n log softmax(f(s_n))[a_n] / sum_n w_n            (w_n = 1 unless weighted)

The policy samples from softmax(f(s)). `make_baseline` gives BC the demonstrations by default
(`BASELINES["bc"]`: source "demos"); any `Transitions` dataset works, e.g. the logged sessions.
With `weighted=True` each transition is weighted by its reward (clipped at 0), a simple
reward-weighted regression.

Shared plumbing (used by every file of this package):
- `torch_rng(gen)`: run a block with torch's global CPU generator set to the learner's own
  `gen` (dropout in the state tracker draws from the global generator), restoring the global
  state after, so training is reproducible and resumable without any global seeding;
- `TorchLearner`: the state every learner checkpoints (networks, optimisers, the NumPy and
  torch generators, counters) and the `Learner` protocol's `state_dict` / `load_state_dict`;
- `OnlineConfig` / `OnlineLearner`: a learner in the train-split simulator: users cycle
  through seeded permutations of the train rows, `play(act)` rolls out one batch of episodes;
- `OfflineConfig` / `OfflineLearner`: a learner on a fixed dataset: each `step()` does
  `updates_per_step` gradient updates on minibatches drawn uniformly with replacement;
- `PolicyNetwork`: the state tracker plus a logits head over all items (BC, CRR's actor).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from rlrec.config import Config
from rlrec.errors import ConfigError
from rlrec.interactive.env import QuitConfig, VectorRecEnv
from rlrec.interactive.nets import StateBatch, StateTracker, state_batch
from rlrec.interactive.rollout import ActFn, Episodes, TorchPolicy, rollout
from rlrec.interactive.transitions import Transitions
from rlrec.interactive.worldmodel import WorldModel

# -- plumbing shared by all baselines ---------------------------------------------------------


@contextmanager
def torch_rng(gen: torch.Generator) -> Iterator[None]:
    """Make `gen` torch's global CPU generator inside the block (network initialisation,
    dropout); `gen` keeps the advanced state and the global state is restored after."""
    saved = torch.get_rng_state()
    torch.set_rng_state(gen.get_state())
    try:
        yield
    finally:
        gen.set_state(torch.get_rng_state())
        torch.set_rng_state(saved)


@contextmanager
def train_mode(*modules: nn.Module) -> Iterator[None]:
    """Dropout on inside the block; networks act (roll out, evaluate) in eval mode."""
    for m in modules:
        m.train()
    try:
        yield
    finally:
        for m in modules:
            m.eval()


def n_user_rows(world: WorldModel) -> int:
    """Rows of the user-embedding table: train rows are learned; evaluation indexes the same
    table with test rows (as the IL-Rec release does), so it must cover both splits."""
    return max(len(world.rewards["train"]), len(world.rewards["test"]))


@dataclass
class Batch:
    """A minibatch of transitions as tensors."""

    s: StateBatch  # states
    next_s: StateBatch  # next states (the window with the action appended)
    actions: torch.Tensor  # [B] long
    rewards: torch.Tensor  # [B] float
    done: torch.Tensor  # [B] float, 1.0 where the episode ended (no bootstrap)


def to_batch(t: Transitions) -> Batch:
    next_items, next_rewards = t.next_window()
    return Batch(
        s=state_batch(t.users, t.window_items, t.window_rewards),
        next_s=state_batch(t.users, next_items, next_rewards),
        actions=torch.from_numpy(np.ascontiguousarray(t.actions, dtype=np.int64)),
        rewards=torch.from_numpy(np.ascontiguousarray(t.rewards, dtype=np.float32)),
        done=torch.from_numpy(t.done.astype(np.float32)),
    )


class TorchLearner:
    """Networks + optimisers + generators + counters, checkpointed as one state dict.

    Subclasses fill `self.modules` and `self.optimizers` (dicts by name) and `self.counters`
    (plain ints); `extra_state` / `load_extra_state` add anything else (a replay buffer)."""

    name: ClassVar[str]
    unit: ClassVar[Literal["episodes", "updates"]]

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = np.random.default_rng(seed)  # data sampling, exploration, user order
        self.gen = torch.Generator().manual_seed(seed)  # initialisation, dropout, sampling
        self.modules: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.counters: dict[str, int] = {}

    def eval_mode(self) -> None:
        for m in self.modules.values():
            m.eval()

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {
            "modules": {k: m.state_dict() for k, m in self.modules.items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "rng": self.rng,
            "torch_rng": self.gen.get_state(),
            "counters": dict(self.counters),
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, m in self.modules.items():
            m.load_state_dict(state["modules"][k])
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        self.rng = state["rng"]
        self.gen.set_state(state["torch_rng"])
        self.counters = {k: int(v) for k, v in state["counters"].items()}
        self.load_extra_state(state["extra"])
        self.eval_mode()


class PolicyNetwork(nn.Module):
    """State tracker + logits head over all items: f(s) [B, I]."""

    def __init__(self, n_users: int, n_items: int, dim: int = 32, window: int = 4) -> None:
        super().__init__()
        self.tracker = StateTracker(n_users, n_items, dim, window)
        self.head = nn.Linear(dim, n_items)

    def forward(self, s: StateBatch) -> torch.Tensor:
        return self.head(self.tracker(s))

    def scores(self, s: StateBatch) -> torch.Tensor:
        return self.forward(s)


# -- online learners (in the simulator) -------------------------------------------------------


class OnlineConfig(Config):
    """Settings every learner in the simulator shares."""

    dim: int = Field(32, ge=1, description="hidden size d of the state tracker")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate")
    episodes_per_iteration: int = Field(
        64, ge=1, description="train users rolled out together per step() call"
    )
    quit: QuitConfig = Field(
        default_factory=QuitConfig, description="the simulated user's quit rule while training"
    )


class OnlineLearner(TorchLearner):
    """A learner that plays episodes in the train-split simulator (`VectorRecEnv`). Users are
    drawn by cycling through seeded permutations of the train rows."""

    unit = "episodes"

    def __init__(self, world: WorldModel, cfg: OnlineConfig, seed: int) -> None:
        super().__init__(seed)
        self.cfg = cfg
        self.env = VectorRecEnv.from_world(world, "train", cfg.quit)
        self.n_users, self.n_items = n_user_rows(world), world.n_items
        self.window = cfg.quit.window
        self.order = self.rng.permutation(self.env.n_users)
        self.cursor = 0
        self.counters = {"episodes": 0, "updates": 0}

    def next_users(self, n: int) -> np.ndarray:
        out = []
        while n > 0:
            if self.cursor == len(self.order):
                self.order, self.cursor = self.rng.permutation(self.env.n_users), 0
            take = self.order[self.cursor : self.cursor + n]
            self.cursor += len(take)
            n -= len(take)
            out.append(take)
        return np.concatenate(out)

    def play(self, act: ActFn) -> Episodes:
        """One episode for each of the next `episodes_per_iteration` users."""
        users = self.next_users(self.cfg.episodes_per_iteration)
        episodes = rollout(self.env, users, act, first_episode=self.counters["episodes"])
        self.counters["episodes"] += len(users)
        return episodes

    @staticmethod
    def report(episodes: Episodes) -> dict[str, float]:
        return {
            "episodes": len(episodes.lengths),
            "return": float(episodes.returns.mean()),
            "length": float(episodes.lengths.mean()),
        }

    def extra_state(self) -> dict[str, Any]:
        return {"order": self.order, "cursor": self.cursor}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.order, self.cursor = np.asarray(state["order"]), int(state["cursor"])


# -- offline learners -------------------------------------------------------------------------


class OfflineConfig(Config):
    """Settings every offline learner shares."""

    dim: int = Field(32, ge=1, description="hidden size d of the state tracker")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate")
    batch_size: int = Field(256, ge=1, description="transitions per gradient update")
    updates_per_step: int = Field(10, ge=1, description="gradient updates per step() call")


class OfflineLearner(TorchLearner):
    """A learner on a fixed dataset; `loss(batch)` returns named loss terms with "loss"."""

    unit = "updates"

    def __init__(
        self, world: WorldModel, cfg: OfflineConfig, seed: int, data: Transitions | None
    ) -> None:
        super().__init__(seed)
        if data is None or len(data) == 0:
            raise ConfigError(f"{self.name} learns from a dataset of transitions: none was given")
        self.cfg = cfg
        self.data = data
        self.n_users, self.n_items = n_user_rows(world), world.n_items
        if data.actions.max() >= self.n_items or data.users.max() >= self.n_users:
            raise ConfigError(f"{self.name}: the dataset names users or items beyond the world")
        self.counters = {"updates": 0}
        with torch_rng(self.gen):
            self.build()
        self.eval_mode()

    def build(self) -> None:
        """Create `self.modules` and `self.optimizers`."""
        raise NotImplementedError

    def loss(self, b: Batch) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def after_update(self) -> None:
        """Called after each optimiser step (target networks)."""

    def step(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        trained = [m for k, m in self.modules.items() if not k.startswith("target")]
        for _ in range(self.cfg.updates_per_step):
            batch = self.data.take(self.rng.integers(0, len(self.data), self.cfg.batch_size))
            with torch_rng(self.gen), train_mode(*trained):
                terms = self.loss(to_batch(batch))
                for opt in self.optimizers.values():
                    opt.zero_grad()
                terms["loss"].backward()
                for opt in self.optimizers.values():
                    opt.step()
            self.counters["updates"] += 1
            self.after_update()
            for k, v in terms.items():
                totals[k] = totals.get(k, 0.0) + float(v.detach())
        n = self.cfg.updates_per_step
        return {"updates": n, **{k: v / n for k, v in totals.items()}}


# -- behaviour cloning ------------------------------------------------------------------------


class BCConfig(OfflineConfig):
    """Behaviour cloning."""

    weighted: bool = Field(False, description="weight each transition by max(reward, 0)")


def bc_loss(logits: torch.Tensor, actions: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted cross-entropy -sum w log pi(a|s) / sum w; logits [B, I], actions, weights [B]."""
    nll = F.cross_entropy(logits, actions, reduction="none")
    return (weights * nll).sum() / weights.sum().clamp_min(1e-8)


class BC(OfflineLearner):
    name = "bc"
    cfg: BCConfig

    def __init__(
        self, world: WorldModel, cfg: BCConfig, seed: int, data: Transitions | None = None
    ) -> None:
        super().__init__(world, cfg, seed, data)

    def build(self) -> None:
        self.net = PolicyNetwork(self.n_users, self.n_items, self.cfg.dim, self.data.window)
        self.modules = {"net": self.net}
        self.optimizers = {"opt": torch.optim.Adam(self.net.parameters(), lr=self.cfg.lr)}

    def loss(self, b: Batch) -> dict[str, torch.Tensor]:
        weights = b.rewards.clamp_min(0.0) if self.cfg.weighted else torch.ones_like(b.rewards)
        return {"loss": bc_loss(self.net(b.s), b.actions, weights)}

    def policy(self) -> TorchPolicy:
        return TorchPolicy(self.name, self.net.scores)
