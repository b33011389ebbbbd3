"""Demonstration weights of IL-Rec (docs/ilrec.md#demonstration-weights).

LLM demonstrations are sub-optimal, so each demonstration (s, a) gets a weight fusing how good
the action was in the world model with how much it looks like a demonstration to the
discriminator:

    A_demo(s, a) = Q_demo(s, a) - V_demo(s)          both regress the demos' discounted
                                                     world-model returns G_t (gamma = 0.5)
    w_env = exp(clip(A_demo / beta, -80, 80))         advantage weight, temperature beta
    w_IRL = ((1 - D) / D)^gamma_irl                   density ratio (see `irl.log_density_ratio`)
    w     = w_env^alpha * w_IRL^(1 - alpha)           fusion (the release's form)
    w <- clip(w, 1e-6, 1e6);  w <- w / mean(w);  w <- clip(w, 1e-6, 1e6)

The mean is over all demonstrations (default) or over the recomputed batch (`parity`, the
release). The ablations: "w/o w" sets every weight to 1, "w/o w_env" alpha = 0, "w/o w_IRL"
alpha = 1 (docs/ilrec.md#ablations).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from rlrec.interactive.training import adam

W_MIN, W_MAX = 1e-6, 1e6


def fit_return_model(
    x: torch.Tensor,
    returns: torch.Tensor,
    steps: int = 100,
    lr: float = 1e-2,
    hidden: int = 32,
    seed: int = 0,
) -> nn.Module:
    """An MLP in -> hidden -> 1 regressing `returns` on features `x` (full-batch Adam, MSE)."""
    with torch.random.fork_rng():  # seeded initialisation; the global RNG is left alone
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(x.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, 1))
    opt = adam(model.parameters(), lr)
    x, returns = x.detach(), returns.detach().float()
    for _ in range(steps):
        opt.zero_grad()
        F.mse_loss(model(x).squeeze(-1), returns).backward()
        opt.step()
    return model.eval()


def demo_advantage(
    state_x: torch.Tensor,
    state_action_x: torch.Tensor,
    returns: torch.Tensor,
    steps: int = 100,
    lr: float = 1e-2,
    seed: int = 0,
) -> np.ndarray:
    """A_demo = Q_demo(s, a) - V_demo(s), both fitted to the demos' returns [N]."""
    v = fit_return_model(state_x, returns, steps, lr, seed=seed)
    q = fit_return_model(state_action_x, returns, steps, lr, seed=seed + 1)
    with torch.no_grad():
        return (q(state_action_x.detach()) - v(state_x.detach())).squeeze(-1).numpy()


def demo_weights(
    advantage: np.ndarray,
    log_ratio: np.ndarray,
    beta: float,
    alpha: float,
) -> np.ndarray:
    """w = w_env^alpha * w_IRL^(1 - alpha), clipped and normalised to mean 1 (see module doc);
    `log_ratio` = log w_IRL (from `irl.log_density_ratio`)."""
    log_env = np.clip(np.asarray(advantage, np.float64) / beta, -80.0, 80.0)
    log_w = alpha * log_env + (1.0 - alpha) * np.asarray(log_ratio, np.float64)
    w = np.clip(np.exp(np.clip(log_w, np.log(W_MIN), np.log(W_MAX))), W_MIN, W_MAX)
    return np.clip(w / w.mean(), W_MIN, W_MAX).astype(np.float32)
