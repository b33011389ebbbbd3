"""CRR: critic-regularised regression (discrete actions).

Wang, Novikov, Zolna, Springenberg, Reed, Shahriari, Siegel, Merel, Gulcehre, Heess & de Freitas,
"Critic Regularized Regression", NeurIPS 2020, §3 and Algorithm 1. A critic Q and an
actor pi, on separate state trackers:

    critic:  y = r + gamma (1 - done) sum_a' pi(a' | s') Q^-(s', a')              (Alg. 1)
             L_Q = Huber(Q(s, a) - y)
    actor:   A(s, a) = Q(s, a) - sum_a' pi(a' | s) Q(s, a')
             L_pi = - E_D[ f(A(s, a)) log pi(a | s) ]
             f = exp(A / beta) clipped at `max_weight` ("exp") or 1[A > 0] ("binary")

With discrete items both expectations over pi are exact sums, where the paper averages m
sampled actions. The policy samples from pi (softmax of the actor's logits). Offline, on a fixed
dataset (the logged sessions by default).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from rlrec.interactive.experience.batches import Batch
from rlrec.interactive.experience.rollout import TorchPolicy
from rlrec.interactive.learners.base import OfflineLearner
from rlrec.interactive.learners.baselines.dqn import (
    OfflineQConfig,
    make_q_networks,
    q_of,
    sync_target,
    td_loss,
)
from rlrec.interactive.learners.nets import PolicyNetwork
from rlrec.interactive.learners.training import adam


class CRRConfig(OfflineQConfig):
    """CRR (Wang et al. 2020). `double` is unused: the target is an expectation under pi."""

    weighting: Literal["exp", "binary"] = Field("exp", description="f: exp(A/beta) or 1[A>0]")
    beta: float = Field(1.0, gt=0, description="beta: temperature of the exp weighting")
    max_weight: float = Field(20.0, gt=0, description="clip of exp(A/beta) (the paper: 20)")


def crr_weights(advantage: torch.Tensor, weighting: str, beta: float, max_weight: float):
    """f(A) [B] without gradient."""
    if weighting == "binary":
        return (advantage > 0).float()
    return torch.exp(advantage / beta).clamp(max=max_weight)


class CRR(OfflineLearner):
    name = "crr"
    cfg: CRRConfig

    def build(self) -> None:
        c, w = self.cfg, self.data.window
        n_users, n_items = self.n_users, self.n_items
        self.critic, self.target = make_q_networks(
            n_users, n_items, c.dim, w, user_dropout=c.user_dropout
        )
        self.actor = PolicyNetwork(n_users, n_items, c.dim, w, c.user_dropout)
        self.modules = {"critic": self.critic, "target": self.target, "actor": self.actor}
        self.optimizers = {
            "critic": adam(self.critic.parameters(), c.lr),
            "actor": adam(self.actor.parameters(), c.lr),
        }

    def loss(self, b: Batch) -> dict[str, torch.Tensor]:
        c = self.cfg
        # critic: TD towards the expected target value under the current policy
        with torch.no_grad():
            pi_next = torch.softmax(self.actor(b.next_s), dim=1)
            value_next = (pi_next * self.target(b.next_s)[0]).sum(1)
            y = b.rewards + c.gamma * (1.0 - b.done) * value_next
        q = self.critic(b.s)[0]
        critic_loss = td_loss(q_of(q, b.actions), y)
        # actor: behaviour cloning weighted by f(advantage)
        logits = self.actor(b.s)
        with torch.no_grad():
            pi = torch.softmax(logits, dim=1)
            advantage = q_of(q, b.actions) - (pi * q).sum(1)
            weights = crr_weights(advantage, c.weighting, c.beta, c.max_weight)
        actor_loss = (weights * F.cross_entropy(logits, b.actions, reduction="none")).mean()
        return {
            "loss": critic_loss + actor_loss,
            "loss/critic": critic_loss,
            "loss/actor": actor_loss,
            "weight": weights.mean(),
        }

    def after_update(self) -> None:
        if self.counters["updates"] % self.cfg.target_update_every == 0:
            sync_target(self.critic, self.target)

    def policy(self) -> TorchPolicy:
        return TorchPolicy(self.name, self.actor.scores)
