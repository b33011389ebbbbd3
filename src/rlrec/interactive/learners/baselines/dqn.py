"""DQN: deep Q-learning in the simulator, and the Q-learning pieces its offline relatives share.

Mnih et al., "Human-level control through deep reinforcement learning", Nature 518, 2015
(Algorithm 1; Methods "Training details"): epsilon-greedy exploration, experience replay, and a
target network Q^- copied from Q every C updates. The loss is the Huber loss of the TD error

    y = r + gamma (1 - done) max_a' Q^-(s', a')                                  (DQN target)
    y = r + gamma (1 - done) Q^-(s', argmax_a' Q(s', a'))                         (Double DQN)

the second from van Hasselt, Guez & Silver, "Deep Reinforcement Learning with Double
Q-learning", AAAI 2016, Eq. 4 (`double=True`, the default). Q is a `QNetwork`: the state
tracker (user + last W (item, reward) pairs) and a Q head over all items.

Here, each `step()` plays `episodes_per_iteration` train users at once with epsilon-greedy
actions (epsilon decays linearly from `epsilon_start` to `epsilon_end` over
`exploration_episodes`), stores their transitions in the replay buffer, then does
`updates_per_iteration` updates on minibatches drawn uniformly from it. The evaluation policy is
greedy in Q. `done` covers both quitting and the max-turn cut (transitions do not record which),
so neither is bootstrapped.

`OfflineQLearner` is the same update on a fixed dataset (no exploration, no replay growth): the
base of SQN, discrete BCQ and CQL, which each add one term.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field

from rlrec.interactive.experience.batches import Batch, to_batch
from rlrec.interactive.experience.buffer import ReplayBuffer
from rlrec.interactive.experience.rollout import TorchPolicy, epsilon_greedy
from rlrec.interactive.experience.transitions import Transitions
from rlrec.interactive.learners.base import (
    OfflineConfig,
    OfflineLearner,
    OnlineConfig,
    OnlineLearner,
)
from rlrec.interactive.learners.nets import QNetwork
from rlrec.interactive.learners.training import adam, train_mode
from rlrec.interactive.world.worldmodel import WorldModel
from rlrec.seeding import torch_rng

# -- Q-learning pieces ------------------------------------------------------------------------


def q_of(q: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Q(s, a) [B] from Q(s, .) [B, I] and actions [B]."""
    return q.gather(1, actions[:, None]).squeeze(1)


@torch.no_grad()
def td_target(
    b: Batch, net: QNetwork, target: QNetwork, gamma: float, double: bool
) -> torch.Tensor:
    """y [B]: the DQN or Double-DQN target (module docstring)."""
    q_next = target(b.next_s)[0]
    best = net(b.next_s)[0].argmax(1) if double else q_next.argmax(1)
    value = q_of(q_next, best)
    return b.rewards + gamma * (1.0 - b.done) * value


def td_loss(q_sa: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Huber loss of the TD error (Mnih et al. 2015: the error clipped to [-1, 1])."""
    return F.smooth_l1_loss(q_sa, y)


@torch.no_grad()
def sync_target(net: torch.nn.Module, target: torch.nn.Module) -> None:
    """Q^- <- Q."""
    target.load_state_dict(net.state_dict())


def make_q_networks(
    n_users: int,
    n_items: int,
    dim: int,
    window: int,
    extra_head: bool = False,
    user_dropout: float = 0.0,
) -> tuple[QNetwork, QNetwork]:
    """(Q, Q^-) with Q^- a frozen copy of Q."""
    net = QNetwork(n_users, n_items, dim, window, extra_head, user_dropout=user_dropout)
    target = QNetwork(n_users, n_items, dim, window, extra_head, user_dropout=user_dropout)
    sync_target(net, target)
    target.requires_grad_(False)
    return net, target


# -- DQN in the simulator ---------------------------------------------------------------------


class DQNConfig(OnlineConfig):
    """DQN in the simulator (defaults: gamma as DORL/Tianshou; the rest CleanRL-like, scaled
    down to the recommendation task)."""

    episodes_per_iteration: int = Field(16, ge=1, description="episodes played per step()")
    gamma: float = Field(0.9, ge=0, le=1, description="discount factor")
    double: bool = Field(True, description="Double-DQN targets (van Hasselt et al. 2016)")
    batch_size: int = Field(256, ge=1, description="transitions per gradient update")
    updates_per_iteration: int = Field(8, ge=1, description="gradient updates per step()")
    buffer_size: int = Field(50_000, ge=1, description="replay capacity in transitions")
    learning_starts: int = Field(256, ge=0, description="transitions stored before updating")
    target_update_every: int = Field(100, ge=1, description="C: updates between Q^- <- Q")
    epsilon_start: float = Field(1.0, ge=0, le=1, description="exploration rate at the start")
    epsilon_end: float = Field(0.05, ge=0, le=1, description="exploration rate after decay")
    exploration_episodes: int = Field(
        2000, ge=1, description="episodes over which epsilon decays linearly"
    )


class DQN(OnlineLearner):
    name = "dqn"
    cfg: DQNConfig

    def __init__(
        self, world: WorldModel, cfg: DQNConfig, seed: int, data: Transitions | None = None
    ) -> None:
        super().__init__(world, cfg.quit, seed)
        self.cfg = cfg
        with torch_rng(self.gen):
            self.net, self.target = make_q_networks(
                self.n_users, self.n_items, cfg.dim, self.window, user_dropout=cfg.user_dropout
            )
        self.modules = {"net": self.net, "target": self.target}
        self.optimizers = {"opt": adam(self.net.parameters(), cfg.lr)}
        self.buffer = ReplayBuffer(cfg.buffer_size, self.window)
        self.eval_mode()

    def epsilon(self) -> float:
        c = self.cfg
        frac = min(1.0, self.counters["episodes"] / c.exploration_episodes)
        return c.epsilon_start + frac * (c.epsilon_end - c.epsilon_start)

    def step(self) -> dict[str, float]:
        c = self.cfg
        # 1. play epsilon-greedy episodes and store them
        epsilon = self.epsilon()
        act = epsilon_greedy(self.net.scores, self.n_items, epsilon, self.rng)
        episodes = self.play(act, c.episodes_per_iteration)
        self.buffer.add(episodes.transitions)
        stats = {**self.report(episodes), "epsilon": epsilon}
        if len(self.buffer) < c.learning_starts:
            return stats
        # 2. TD updates on minibatches from the replay buffer
        losses = []
        for _ in range(c.updates_per_iteration):
            b = to_batch(self.buffer.sample(c.batch_size, self.rng))
            with torch_rng(self.gen), train_mode(self.net):
                y = td_target(b, self.net, self.target, c.gamma, c.double)
                q_sa = q_of(self.net(b.s)[0], b.actions)
                loss = td_loss(q_sa, y)
                self.optimizers["opt"].zero_grad()
                loss.backward()
                self.optimizers["opt"].step()
            self.counters["updates"] += 1
            if self.counters["updates"] % c.target_update_every == 0:
                sync_target(self.net, self.target)
            losses.append(float(loss.detach()))
        return {**stats, "loss": sum(losses) / len(losses), "q": float(q_sa.detach().mean())}

    def extra_state(self) -> dict[str, Any]:
        return {**super().extra_state(), "buffer": self.buffer.state_dict()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        super().load_extra_state(state)
        self.buffer.load_state_dict(state["buffer"])

    def policy(self) -> TorchPolicy:
        return TorchPolicy(self.name, self.net.scores, always_greedy=True)


# -- Q-learning on a fixed dataset (base of SQN, BCQ, CQL) -------------------------------------


class OfflineQConfig(OfflineConfig):
    """Q-learning on a fixed dataset."""

    gamma: float = Field(0.9, ge=0, le=1, description="discount factor")
    double: bool = Field(True, description="Double-DQN targets")
    target_update_every: int = Field(100, ge=1, description="C: updates between Q^- <- Q")


class OfflineQLearner(OfflineLearner):
    """DQN's update on a fixed dataset; subclasses add their term in `loss`."""

    cfg: OfflineQConfig
    extra_head = False  # SQN's supervised head, BCQ's behaviour head

    def build(self) -> None:
        c = self.cfg
        self.net, self.target = make_q_networks(
            self.n_users, self.n_items, c.dim, self.data.window, self.extra_head, c.user_dropout
        )
        self.modules = {"net": self.net, "target": self.target}
        self.optimizers = {"opt": adam(self.net.parameters(), self.cfg.lr)}

    def td_terms(self, b: Batch) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """(Q(s, .) [B, I], extra head [B, I] or None, TD loss)."""
        y = td_target(b, self.net, self.target, self.cfg.gamma, self.cfg.double)
        q, extra = self.net(b.s)
        return q, extra, td_loss(q_of(q, b.actions), y)

    def loss(self, b: Batch) -> dict[str, torch.Tensor]:
        _, _, loss = self.td_terms(b)
        return {"loss": loss}

    def after_update(self) -> None:
        if self.counters["updates"] % self.cfg.target_update_every == 0:
            sync_target(self.net, self.target)

    def policy(self) -> TorchPolicy:
        return TorchPolicy(self.name, self.net.scores, always_greedy=True)
