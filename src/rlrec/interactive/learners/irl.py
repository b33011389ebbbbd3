"""Adversarial inverse RL for IL-Rec: the discriminator, its features and the IRL reward
(docs/ilrec.md#discriminator-and-irl-reward).

The discriminator D(s, a) is the probability that the pair (s, a) comes from the current policy
rather than from the demonstrations (the release's convention: policy = 1, demo = 0). It is
trained by binary cross-entropy on balanced batches of policy and demonstration pairs.

    plain (default)  logit D = g(x(s, a)),  g: Linear(., 32) -> ReLU -> Linear(32, 1)
    airl             D_demo = exp f / (exp f + pi(a|s))  (Fu et al. 2018), i.e.
                     logit D = log pi(a|s) - f(x(s, a))

From D (clamped to [1e-8, 1 - 1e-8], as the release does):

    r_IRL(s, a) = -log D(s, a)                    the IRL reward (high where the pair looks
                                                  like a demonstration)
    log w_IRL   = gamma_irl * log((1 - D) / D)    = -gamma_irl * logit D: the density ratio
                                                  p_demo / p_policy of the demonstration weight

Features x(s, a):
- `state_tracker` (default): the policy's state vector h(s) and the item embedding of a, both
  detached: the discriminator sees what the policy sees and is trained on its current features.
- `text`: the release's state-action text (template `ilrec_state_action_v1`, one field per
  line: template, dataset, user, history of (item, reward), candidate item and title) embedded
  with all-MiniLM-L6-v2 instead of LLaMA-2-7B; embeddings are cached per text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

LOGIT_LIMIT = math.log((1 - 1e-8) / 1e-8)  # D clamped to [1e-8, 1 - 1e-8]


class Discriminator(nn.Module):
    def __init__(self, in_dim: int, hidden: int = 32, airl: bool = False) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.airl = airl

    def forward(self, x: torch.Tensor, log_pi: torch.Tensor | None = None) -> torch.Tensor:
        """logit of D = P(policy | s, a) [N]; the AIRL form needs log pi(a|s) [N]."""
        f = self.net(x).squeeze(-1)
        if not self.airl:
            return f
        if log_pi is None:
            raise ValueError("the AIRL discriminator needs log pi(a|s)")
        return log_pi - f


def clamped(logit: torch.Tensor) -> torch.Tensor:
    return logit.clamp(-LOGIT_LIMIT, LOGIT_LIMIT)


def irl_reward(logit: torch.Tensor) -> torch.Tensor:
    """r_IRL = -log D, with D clamped to [1e-8, 1 - 1e-8]."""
    return F.softplus(-clamped(logit))


def log_density_ratio(logit: torch.Tensor, gamma_irl: float = 1.0) -> torch.Tensor:
    """log w_IRL = gamma_irl * log((1 - D) / D)."""
    return -gamma_irl * clamped(logit)


def accuracy(policy_logit: torch.Tensor, demo_logit: torch.Tensor) -> float:
    """Balanced accuracy of D > 0.5 on policy pairs and D < 0.5 on demo pairs."""
    return 0.5 * float((policy_logit > 0).float().mean() + (demo_logit < 0).float().mean())


# ----------------------------------------------------------------------------- text features
TEMPLATE = "ilrec_state_action_v1"


def state_action_text(
    dataset: str,
    user: Any,
    history_items: Sequence[int],
    history_rewards: Sequence[float],
    item: int,
    title: str,
) -> str:
    """The release's deterministic state-action text (docs/ilrec.md), padding left out."""
    pairs = [
        f"item_id={int(i)} reward={float(r):.6f}"
        for i, r in zip(history_items, history_rewards, strict=True)
        if i >= 0
    ]
    return "\n".join(
        [
            f"template={TEMPLATE}",
            f"dataset={dataset}",
            f"user_id={user}",
            f"history=[{'; '.join(pairs)}]",
            f"candidate=item_id={int(item)} text={title}",
        ]
    )


class TextFeatures:
    """x(s, a) = sentence embedding of `state_action_text`, cached per text."""

    def __init__(self, embedder: Any, dataset: str, user_ids: np.ndarray, titles: Sequence[str]):
        self.embedder, self.dataset = embedder, dataset
        self.user_ids, self.titles = np.asarray(user_ids), list(titles)
        self.cache: dict[str, np.ndarray] = {}

    @property
    def dim(self) -> int:
        return int(self.embedder.dim)

    def __call__(
        self, users: np.ndarray, items: np.ndarray, rewards: np.ndarray, actions: np.ndarray
    ) -> torch.Tensor:
        texts = [
            state_action_text(
                self.dataset, self.user_ids[u], items[n], rewards[n], a, self.titles[a]
            )
            for n, (u, a) in enumerate(zip(users.tolist(), actions.tolist(), strict=True))
        ]
        missing = sorted({t for t in texts if t not in self.cache})
        if missing:
            for text, vec in zip(missing, self.embedder.encode(missing), strict=True):
                self.cache[text] = np.asarray(vec, dtype=np.float32)
        return torch.from_numpy(np.stack([self.cache[t] for t in texts]))
