"""Demonstration weights of IL-Rec (docs/ilrec.md#demonstration-weights).

LLM demonstrations are sub-optimal, so each demonstration (s, a) gets a weight fusing how good
the action was in the world model with how much it looks like a demonstration to the
discriminator. Two weightings.

`paper` (`demo_weights`, the paper's and the release's):

    A_demo(s, a) = Q_demo(s, a) - V_demo(s)          both regress the demos' discounted
                                                     world-model returns G_t (gamma = 0.5)
    w_env = exp(clip(A_demo / beta, -80, 80))         advantage weight, temperature beta
    w_IRL = ((1 - D) / D)^gamma_irl                   density ratio (see `irl.log_density_ratio`)
    w     = w_env^alpha * w_IRL^(1 - alpha)           fusion (the release's form)
    w <- clip(w, 1e-6, 1e6);  w <- w / mean(w);  w <- clip(w, 1e-6, 1e6)

The mean is over all demonstrations (default) or over the recomputed batch (`parity`, the
release). The ablations: "w/o w" sets every weight to 1, "w/o w_env" alpha = 0, "w/o w_IRL"
alpha = 1 (docs/ilrec.md#ablations).

The paper's weighting can only re-rank demonstrations among themselves: A_demo compares a
demonstration with the other demonstrations (Q_demo and V_demo fit the same returns), and the
mean-1 normalisation gives the imitation term its full strength lambda_imit whatever the
expert's quality, so an expert worse than random drags the policy below random.

`advantage` (`advantage_weights`, the default): the advantage of the demonstrated action is
taken against the learner's own critic, and the weight keeps its absolute scale,

    A     = Q(s, a_demo) - V_pi(s)                   the learner's current Q; V_pi(s) =
                                                     sum_b pi(b|s) Q(s, b), its own value
    w_IRL' = w_IRL / mean_demos(w_IRL)               the discriminator's ratio, relative
    w     = clip(exp(A / beta) * w_IRL'^(1 - alpha), 1e-6, w_max)       no renormalisation

This is the advantage-weighted regression weight exp(A / beta) of Peng, Kumar, Zhang & Levine,
"Advantage-Weighted Regression" (arXiv 1910.00177, 2019, eq. 7 and its weight clip w_max = 20),
used, as in self-imitation learning (Oh, Guo, Singh & Lee, "Self-Imitation Learning", ICML 2018,
§3: imitate a past action only where its return beats the learner's V(s)), to imitate a
demonstration only as far as it beats what the learner already does: a demonstration the
learner's critic rates below its own policy (A < 0) fades exponentially, one it rates above
(A > 0) weighs more than 1. The discriminator's density ratio has no absolute meaning (it only
says how well D separates the two sources), so it enters relative to its mean: it re-ranks
demonstrations without turning imitation up or down. The gate exp(A / beta) is not scaled by
alpha: scaled (exp(alpha A / beta), alpha = 0.25) a demonstration 5 return units worse than the
learner kept weight 0.29 and an expert worse than random still pulled the policy down (the
measurement is in the docs). So alpha only weighs the discriminator's re-ranking: alpha = 1
("w/o w_IRL") is the gate alone, alpha = 0 ("w/o w_env") the gate with the full re-ranking;
`use_weights=False` ("w/o w") drops the gate too.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from rlrec.interactive.learners.training import adam
from rlrec.seeding import torch_rng

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
    with torch_rng(seed):  # seeded initialisation; the global RNG is left alone
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


def advantage_weights(
    advantage: np.ndarray,
    log_ratio: np.ndarray,
    beta: float,
    alpha: float,
    w_max: float = 20.0,
) -> np.ndarray:
    """w = exp(A / beta) (w_IRL / mean w_IRL)^(1 - alpha), clipped to [1e-6, w_max], not
    normalised (the `advantage` weighting of the module doc); `advantage` = Q(s, a) - V(s) of the
    learner's critic, `log_ratio` = log w_IRL (from `irl.log_density_ratio`)."""
    log_ratio = np.asarray(log_ratio, np.float64)
    peak = log_ratio.max() if log_ratio.size else 0.0
    log_mean = peak + np.log(np.mean(np.exp(log_ratio - peak))) if log_ratio.size else 0.0
    log_w = np.asarray(advantage, np.float64) / beta + (1.0 - alpha) * (log_ratio - log_mean)
    return np.exp(np.clip(log_w, np.log(W_MIN), np.log(w_max))).astype(np.float32)


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
