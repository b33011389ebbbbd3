"""CQL: conservative Q-learning (discrete actions, on a DQN).

Kumar, Zhou, Tucker & Levine, "Conservative Q-Learning for Offline Reinforcement Learning",
NeurIPS 2020, §3.2 Eq. 4 with the R(mu) = entropy regulariser, "CQL(H)", as the paper uses for
discrete actions (§6.3, Atari, on QR-DQN; DORL's code also uses a QR-DQN variant):

    L = alpha E_s [ logsumexp_a Q(s, a) - E_{a ~ D} Q(s, a) ] + L_TD

L_TD is the DQN loss of `dqn.py` (Huber, target network, Double-DQN target). The penalty pushes
Q down on every item and up on the items the dataset chose, so the greedy policy stays near the
data. The policy is greedy in Q. Deviation: a plain (expected-value) DQN, not QR-DQN.
Offline, on a fixed dataset (the logged sessions by default).
"""

from __future__ import annotations

import torch
from pydantic import Field

from rlrec.interactive.experience.batches import Batch
from rlrec.interactive.learners.baselines.dqn import OfflineQConfig, OfflineQLearner, q_of


class CQLConfig(OfflineQConfig):
    """CQL(H) on a DQN."""

    alpha: float = Field(1.0, ge=0, description="alpha: weight of the conservative penalty")


def cql_penalty(q: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """E_s[logsumexp_a Q(s, a) - Q(s, a_data)] (Eq. 4); q [B, I], actions [B]."""
    return (torch.logsumexp(q, dim=1) - q_of(q, actions)).mean()


class CQL(OfflineQLearner):
    name = "cql"
    cfg: CQLConfig

    def loss(self, b: Batch) -> dict[str, torch.Tensor]:
        q, _, td = self.td_terms(b)
        penalty = cql_penalty(q, b.actions)
        return {"loss": td + self.cfg.alpha * penalty, "loss/td": td, "loss/cql_penalty": penalty}
