"""Discrete BCQ: batch-constrained deep Q-learning for discrete actions.

Fujimoto, Conti, Ghavamzadeh & Pineau, "Benchmarking Batch Deep Reinforcement Learning
Algorithms", NeurIPS 2019 Deep RL Workshop (arXiv 1910.01708), §4. One state tracker
feeds a Q head Q(s, .) and a generative (behaviour) head G(a | s) = softmax(g(s)) trained by
cross-entropy on the dataset's actions. Actions whose relative behaviour probability is below a
threshold tau are never chosen:

    allowed(s) = { a : G(a | s) / max_a' G(a' | s) > tau }
    pi(s)      = argmax_{a in allowed(s)} Q(s, a)
    y          = r + gamma (1 - done) Q^-(s', pi(s'))
    L          = Huber(Q(s, a) - y) + CE(g(s), a) + 0.01 mean(g(s)^2)

(the last term is the logit regulariser of the authors' code). The policy is greedy in Q over the
allowed items; the other items get Q - 1e9 rather than -inf so that an evaluation mode banning
items always leaves an answer. Offline, on a fixed dataset (the logged sessions by default).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from rlrec.interactive.experience.batches import Batch, StateBatch
from rlrec.interactive.experience.rollout import TorchPolicy
from rlrec.interactive.learners.baselines.dqn import OfflineQConfig, OfflineQLearner, q_of, td_loss

EXCLUDED = 1e9  # subtracted from the Q-value of an action outside allowed(s)


class BCQConfig(OfflineQConfig):
    """Discrete BCQ (Fujimoto et al. 2019)."""

    tau: float = Field(0.3, ge=0, le=1, description="tau: relative behaviour-probability cut")
    logit_reg: float = Field(1e-2, ge=0, description="weight of the behaviour-logit regulariser")


def constrained_q(q: torch.Tensor, behaviour_logits: torch.Tensor, tau: float) -> torch.Tensor:
    """Q [B, I] with the actions outside allowed(s) lowered by EXCLUDED ."""
    log_g = F.log_softmax(behaviour_logits, dim=1)
    ratio = (log_g - log_g.max(1, keepdim=True).values).exp()  # G(a|s) / max G
    return torch.where(ratio > tau, q, q - EXCLUDED)


class BCQ(OfflineQLearner):
    name = "bcq"
    cfg: BCQConfig
    extra_head = True  # the behaviour head g(s)

    @torch.no_grad()
    def bcq_target(self, b: Batch) -> torch.Tensor:
        """y: the next action from the online Q over allowed(s'), valued by Q^-."""
        q_next, g_next = self.net(b.next_s)
        best = constrained_q(q_next, g_next, self.cfg.tau).argmax(1)
        value = q_of(self.target(b.next_s)[0], best)
        return b.rewards + self.cfg.gamma * (1.0 - b.done) * value

    def loss(self, b: Batch) -> dict[str, torch.Tensor]:
        y = self.bcq_target(b)
        q, g = self.net(b.s)
        td = td_loss(q_of(q, b.actions), y)
        imitation = F.cross_entropy(g, b.actions) + self.cfg.logit_reg * g.pow(2).mean()
        return {"loss": td + imitation, "loss/td": td, "loss/behaviour": imitation}

    def scores(self, s: StateBatch) -> torch.Tensor:
        q, g = self.net(s)
        return constrained_q(q, g, self.cfg.tau)

    def policy(self) -> TorchPolicy:
        return TorchPolicy(self.name, self.scores, always_greedy=True)
