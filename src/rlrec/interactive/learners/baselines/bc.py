"""Behaviour cloning (BC), and the plumbing every learned baseline shares.

BC (Pomerleau 1991; the standard imitation baseline of the offline-RL papers, e.g. Fujimoto et
al. 2019 §5 and Kumar et al. 2020 §6): maximise log pi(a | s) over the (state, action) pairs of a
fixed dataset,

    L_BC = - sum_n w_n log softmax(f(s_n))[a_n] / sum_n w_n            (w_n = 1 unless weighted)

The policy samples from softmax(f(s)). `make_baseline` gives BC the demonstrations by default
(`BASELINES["bc"]`: source "demos"); any `Transitions` dataset works, e.g. the logged sessions.
With `weighted=True` each transition is weighted by its reward (clipped at 0), a simple
reward-weighted regression.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from rlrec.interactive.experience.batches import Batch
from rlrec.interactive.experience.rollout import TorchPolicy
from rlrec.interactive.learners.base import OfflineConfig, OfflineLearner
from rlrec.interactive.learners.nets import PolicyNetwork
from rlrec.interactive.learners.training import adam

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

    def build(self) -> None:
        c, window = self.cfg, self.data.window
        self.net = PolicyNetwork(self.n_users, self.n_items, c.dim, window, c.user_dropout)
        self.modules = {"net": self.net}
        self.optimizers = {"opt": adam(self.net.parameters(), c.lr)}

    def loss(self, b: Batch) -> dict[str, torch.Tensor]:
        weights = b.rewards.clamp_min(0.0) if self.cfg.weighted else torch.ones_like(b.rewards)
        return {"loss": bc_loss(self.net(b.s), b.actions, weights)}

    def policy(self) -> TorchPolicy:
        return TorchPolicy(self.name, self.net.scores)
