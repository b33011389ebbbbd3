"""SQN: self-supervised Q-learning on a sequential recommender.

Xin, Karatzoglou, Arapakis & Jose, "Self-Supervised Reinforcement Learning for Recommender
Systems", SIGIR 2020, §3.2-3.3. One state tracker feeds two heads over all items:

- a supervised (self-supervised) head f(s): cross-entropy on the item the log chose next,
      L_s = - log softmax(f(s))[a]
- a Q head Q(s, .): one-step TD learning on the dataset's rewards,
      L_q = Huber(Q(s, a) - (r + gamma (1 - done) Q^-(s', argmax_a' Q(s', a'))))

trained jointly, L = L_s + L_q: the TD gradient reaches the shared tracker, which is
what "self-supervised RL" means here. As the paper recommends (§3.3), recommendations come from
the supervised head: the policy samples from softmax(f(s)) like every logits policy, and the
evaluation's `greedy=True` gives the paper's top-1 ranking.

Deviation: the paper trains two copies of the network and alternates them as each other's
target (double Q-learning, §3.3); here one network with a target copy refreshed every
`target_update_every` updates gives the Double-DQN target. Offline, on a fixed dataset (the
logged sessions by default).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from rlrec.interactive.experience.batches import Batch
from rlrec.interactive.experience.rollout import TorchPolicy
from rlrec.interactive.learners.baselines.dqn import OfflineQConfig, OfflineQLearner


class SQNConfig(OfflineQConfig):
    """SQN (Xin et al. 2020)."""

    q_weight: float = Field(1.0, ge=0, description="weight of the TD loss L_q in L_s + w L_q")


def sqn_loss(
    logits: torch.Tensor, actions: torch.Tensor, td: torch.Tensor, q_weight: float
) -> dict[str, torch.Tensor]:
    """L = L_s + w L_q ; logits [B, I] of the supervised head, td the TD loss."""
    supervised = F.cross_entropy(logits, actions)
    return {"loss": supervised + q_weight * td, "loss/supervised": supervised, "loss/td": td}


class SQN(OfflineQLearner):
    name = "sqn"
    cfg: SQNConfig
    extra_head = True  # the supervised head

    def loss(self, b: Batch) -> dict[str, torch.Tensor]:
        _, logits, td = self.td_terms(b)
        return sqn_loss(logits, b.actions, td, self.cfg.q_weight)

    def supervised_scores(self, s) -> torch.Tensor:
        return self.net(s)[1]

    def policy(self) -> TorchPolicy:
        return TorchPolicy(self.name, self.supervised_scores)
