"""The learner base that IL-Rec and every learned baseline share.

- `TorchLearner`: the state every learner checkpoints (networks, optimisers, the NumPy and
  torch generators, counters) and the `Learner` protocol's `state_dict` / `load_state_dict`;
- `OnlineConfig` / `OnlineLearner`: a learner in the train-split simulator: users cycle
  through seeded permutations of the train rows, `play(act, n)` rolls out n episodes at once
  (the online baselines and IL-Rec);
- `OfflineConfig` / `OfflineLearner`: a learner on a fixed dataset: each `step()` does
  `updates_per_step` gradient updates on minibatches drawn uniformly with replacement.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from rlrec.config import Config
from rlrec.errors import ConfigError
from rlrec.interactive.env import QuitConfig, VectorRecEnv
from rlrec.interactive.experience.batches import Batch, to_batch
from rlrec.interactive.experience.rollout import ActFn, Episodes, rollout
from rlrec.interactive.experience.transitions import Transitions
from rlrec.interactive.learners.training import train_mode
from rlrec.interactive.world.worldmodel import WorldModel
from rlrec.seeding import torch_rng


def n_user_rows(world: WorldModel) -> int:
    """Rows of the user-embedding table: the train users (evaluation users enter as
    `NEW_USER`, whose embedding `user_dropout` trains)."""
    return len(world.rewards["train"])


class TorchLearner:
    """Networks + optimisers + generators + counters, checkpointed as one state dict.

    Subclasses fill `self.modules` and `self.optimizers` (dicts by name) and `self.counters`
    (plain ints); `extra_state` / `load_extra_state` add anything else (a replay buffer)."""

    name: ClassVar[str]
    unit: ClassVar[Literal["episodes", "updates"]]
    # bumped when the checkpoint layout changes: a study stage trained with an older one
    # retrains instead of failing to load (`study.train_stage`)
    state_version: ClassVar[int] = 1

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


# -- online learners (in the simulator) -------------------------------------------------------


class OnlineConfig(Config):
    """Settings every learner in the simulator shares."""

    dim: int = Field(32, ge=1, description="hidden size d of the state tracker")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate")
    user_dropout: float = Field(
        0.1, ge=0, lt=1, description="share of training states shown as a new user (test users)"
    )
    episodes_per_iteration: int = Field(
        64, ge=1, description="train users rolled out together per step() call"
    )
    quit: QuitConfig = Field(
        default_factory=QuitConfig, description="the simulated user's quit rule while training"
    )


class OnlineLearner(TorchLearner):
    """A learner that plays episodes in the train-split simulator (`VectorRecEnv`). Users are
    handed out in passes over the train rows: a seeded permutation (or the given `order`),
    reshuffled with the learner's generator after each pass unless `reshuffle` is False (then
    every pass repeats the first order, as IL-Rec's release cycles its users)."""

    unit = "episodes"
    reshuffle: ClassVar[bool] = True

    def __init__(
        self,
        world: WorldModel,
        quit: QuitConfig | None,
        seed: int,
        order: np.ndarray | None = None,
    ) -> None:
        super().__init__(seed)
        self.env = VectorRecEnv.from_world(world, "train", quit)
        self.n_users, self.n_items = n_user_rows(world), world.n_items
        self.window = self.env.quit.window
        self.order = self.rng.permutation(self.env.n_users) if order is None else order
        self.cursor = 0
        self.counters = {"episodes": 0, "updates": 0}

    def next_users(self, n: int) -> np.ndarray:
        out = []
        while n > 0:
            if self.cursor == len(self.order):
                if self.reshuffle:
                    self.order = self.rng.permutation(self.env.n_users)
                self.cursor = 0
            take = self.order[self.cursor : self.cursor + n]
            self.cursor += len(take)
            n -= len(take)
            out.append(take)
        return np.concatenate(out)

    def play(self, act: ActFn, n: int) -> Episodes:
        """One episode for each of the next `n` users."""
        users = self.next_users(n)
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
    user_dropout: float = Field(
        0.1, ge=0, lt=1, description="share of training states shown as a new user (test users)"
    )
    batch_size: int = Field(256, ge=1, description="transitions per gradient update")
    updates_per_step: int = Field(10, ge=1, description="gradient updates per step() call")


class OfflineLearner(TorchLearner):
    """A learner on a fixed dataset; `loss(batch)` returns named loss terms with "loss"."""

    unit = "updates"

    def __init__(
        self, world: WorldModel, cfg: OfflineConfig, seed: int, data: Transitions | None = None
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
