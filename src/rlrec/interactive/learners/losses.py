"""IL-Rec's losses as pure functions: tensors in, a scalar tensor (or the tensor a loss is built
from) out, nothing read from a learner. They are the paper's adversarial IRL and its objective
L = L_RL + lambda_imit L_imit (Zhang, Xie et al., ICDM 2025, arXiv 2510.13229) in the forms
docs/ilrec.md gives under "Discriminator and IRL reward" and "Critic and policy losses".

    discriminator_loss   BCE of D with labels policy = 1, demonstration = 0, sides equal
    value_target         y_i = r_i + gamma * V_target(s'_i) * (1 - done_i)
    critic_loss          L_QV = mean_i w_i (Q(s_i, a_i) - y_i)^2 + MSE(V(s_i), y_i)
    normalised_advantage A_i = clip((Q(s_i, a_i) - V(s_i) - mean_B) / std_B, -c, c)
    imitation_loss       L_imit = -(1 / |B_demo|) sum_{i demo} w_i log pi(a_i|s_i)  (per_demo)
                                  -(1 / |B|) sum_{i demo} w_i log pi(a_i|s_i)       (otherwise)
    policy_loss          L = L_RL + lambda_imit * L_imit with
                         L_RL = -mean_i log pi(a_i|s_i) A_i - alpha_ent * mean_i H(pi(.|s_i))
    policy_objective     the same from log pi(a_i|s_i) and H(pi(.|s_i)) per row

`ilrec.ILRec` computes the networks' outputs and calls these; each has its own unit test.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def discriminator_loss(policy_logit: torch.Tensor, demo_logit: torch.Tensor) -> torch.Tensor:
    """BCE with labels policy = 1, demo = 0, each side weighted equally (logits of D [N], [M])."""
    return 0.5 * (
        F.binary_cross_entropy_with_logits(policy_logit, torch.ones_like(policy_logit))
        + F.binary_cross_entropy_with_logits(demo_logit, torch.zeros_like(demo_logit))
    )


def value_target(
    rewards: torch.Tensor, v_next: torch.Tensor, done: torch.Tensor, gamma: float
) -> torch.Tensor:
    """The critic's TD target y [B]: no bootstrap where the episode ended (done = 1)."""
    return rewards + gamma * v_next * (1.0 - done)


def critic_loss(
    q: torch.Tensor, v: torch.Tensor, target: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """L_QV from Q(s_i, a_i) [B], V(s_i) [B], the TD target y [B] and record weights w [B]."""
    return (weights * (q - target) ** 2).mean() + F.mse_loss(v, target)


def normalised_advantage(q: torch.Tensor, v: torch.Tensor, clip: float) -> torch.Tensor:
    """Q - V standardised over the batch and clipped to [-clip, clip] [B] (zero for B = 1)."""
    adv = q - v
    adv = (adv - adv.mean()) / (adv.std() + 1e-8) if len(adv) > 1 else adv * 0
    return adv.clamp(-clip, clip)


def imitation_loss(
    log_pi: torch.Tensor, weights: torch.Tensor, is_demo: torch.Tensor, per_demo: bool
) -> torch.Tensor:
    """The weighted negative log-likelihood of the demonstrated actions in a mixed batch:
    log pi(a_i|s_i) [B], weights [B], is_demo [B] bool; divided by the number of
    demonstrations (`per_demo`, the paper) or by the batch size (the advantage weighting)."""
    count = is_demo.sum() if per_demo else len(is_demo)
    return -(weights[is_demo] * log_pi[is_demo]).sum() / count


def policy_loss(
    log_probs: torch.Tensor,
    actions: torch.Tensor,
    advantage: torch.Tensor,
    weights: torch.Tensor,
    is_demo: torch.Tensor,
    alpha_ent: float,
    lambda_imit: float,
    per_demo: bool,
) -> torch.Tensor:
    """L = L_RL + lambda_imit * L_imit from log pi(.|s_i) [B, I], the actions [B], the
    (detached) advantages [B], the demonstration weights [B] and is_demo [B] (no imitation
    term when the batch holds no demonstration)."""
    log_pi = log_probs.gather(1, actions[:, None]).squeeze(1)
    entropy = -(log_probs.exp() * log_probs).sum(-1)
    return policy_objective(
        log_pi, entropy, advantage, weights, is_demo, alpha_ent, lambda_imit, per_demo
    )


def policy_objective(
    log_pi: torch.Tensor,
    entropy: torch.Tensor,
    advantage: torch.Tensor,
    weights: torch.Tensor,
    is_demo: torch.Tensor,
    alpha_ent: float,
    lambda_imit: float,
    per_demo: bool,
) -> torch.Tensor:
    """`policy_loss` from what it reads of pi per row: log pi(a_i|s_i) [B] and H(pi(.|s_i))
    [B] (what `heads.head_log_pi_entropy` computes without the [B, I] tensors)."""
    loss = -(log_pi * advantage).mean() - alpha_ent * entropy.mean()
    if is_demo.any():
        loss = loss + lambda_imit * imitation_loss(log_pi, weights, is_demo, per_demo)
    return loss
