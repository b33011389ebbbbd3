"""Cooperative MAPPO over source-domain agents (MARCO, arXiv 2510.04508; docs/marco.md#mappo-update
and the sections around it; MAPPO: Yu et al. 2022; PPO: Schulman et al. 2017).

Agent d (one per source domain, actor parameters shared) observes
    o^d = [v_j; e^d; <e^d, v_j>]  (+ one-hot agent id, `agent_id`)                  [B, n, 2k+1]
The centralised critic sees the global state with the agent's observation:
    s   = [v_j; e^1..e^n; <e^1, v_j>..<e^n, v_j>]         ("centralised", default)
    s   = [v_j; e^a*; <e^a*, v_j>], a* = argmax_a <e^a, v_j>   ("argmax", the release)
    V(s, o^d)                                                                     [B, n]
Policy ("gaussian", default): mu_d = g(o^d), z_d ~ N(mu_d, sigma^2) with a learned log sigma,
weights a = softmax_d(z); log pi_d = log N(z_d; mu_d, sigma) carries gradient. Deterministic
weights (bridge phase, evaluation): softmax(mu).
Policy ("degenerate", parity): the release's Categorical over a size-1 axis, log pi == 0, so the
ratio is 1 and the surrogate has zero gradient; weights = softmax(mu) are never sampled.
The single-agent variant (`n_policy_agents = 1`, REMIT-style) reads s and outputs all n logits;
its log pi is the sum over domains and its critic is V(s).

Reward (team): r = -(y_hat - y)^2,  y_hat = <sum_d a_d e^d, v_j>.
With `mean_action_baseline` (default; off in parity) the policy learns from
r - r(softmax(mu)), the improvement of the sampled joint action over the deterministic one: an
action-independent control variate (the gradient stays unbiased) that removes the variance of the
rating itself, which no critic can predict from (s, o^d).
Advantages: "one-step" (each (u, j) is a one-step episode, done = 1): A^d = r - V_old(s, o^d),
return = r. "gae-batch" (parity): the collected mini-batch is a pseudo-trajectory,
delta_t = r_t + gamma V_old(t+1) - V_old(t), A_t = sum_l (gamma lambda)^l delta_{t+l} over
t = 0..B-2, return = A + V_old; then normalised over all (B-1) x n entries.
Losses (per agent and sample, then averaged):
    L_actor  = -min(rho A, clip(rho, 1-eps, 1+eps) A) + entropy_sign * lambda_H * H(softmax(mu))
    L_critic = max((V - R)^2, (V_old + clip(V - V_old, -eps_v, eps_v) - R)^2)
with H(a) = -sum_d a_d log(a_d + 1e-9) over the JOINT weight vector; entropy_sign = +1 penalises
entropy (the release: peaked weights), -1 rewards it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from rlrec.config import Config
from rlrec.seeding import torch_rng

__all__ = [
    "MappoConfig",
    "PPOWeighting",
    "Rollout",
    "clipped_surrogate",
    "clipped_value_loss",
    "gae_pseudo_trajectory",
    "global_state",
    "joint_entropy",
    "observations",
    "one_step_advantages",
]


class MappoConfig(Config):
    """The weighting policy (MAPPO, or the single-agent variant) and its PPO update."""

    hidden: int = Field(32, ge=1, description="actor / critic hidden width (release: 10)")
    lr: float = Field(1e-2, gt=0, description="Adam lr of actor and critic (release: 1e-2)")
    adam_eps: float = Field(1e-5, gt=0, description="Adam eps (release: 1e-5)")
    clip_coef: float = Field(0.2, gt=0, description="epsilon: PPO ratio clip")
    value_clip: float = Field(0.2, gt=0, description="epsilon_v: value clip")
    entropy_coef: float = Field(1e-3, ge=0, description="lambda_H: joint-weight entropy weight")
    entropy_sign: Literal[1, -1] = Field(1, description="+1 penalise entropy (release), -1 bonus")
    init_log_std: float = Field(0.0, description="initial log sigma of the logits")
    ppo_epochs: int = Field(4, ge=1, description="passes over the collected samples per update")
    minibatch_size: int = Field(256, ge=2, description="samples per PPO step")
    normalize_advantages: bool = Field(True, description="standardise advantages per step")
    max_grad_norm: float | None = Field(0.5, description="gradient-norm clip (release: none)")
    agent_id: bool = Field(True, description="append a one-hot agent id to o^d (shared actor)")
    policy: Literal["gaussian", "degenerate"] = Field(
        "gaussian", description="gaussian logits; degenerate = the release's size-1 Categorical"
    )
    advantage: Literal["one-step", "gae-batch"] = Field(
        "one-step", description="one-step bandit; gae-batch = GAE across the mini-batch (release)"
    )
    gamma: float = Field(0.99, description="gamma (gae-batch only)")
    gae_lambda: float = Field(0.99, description="GAE lambda (gae-batch only)")
    mean_action_baseline: bool = Field(
        True, description="subtract the mean joint action's reward from r (control variate)"
    )
    global_state: Literal["centralised", "argmax"] = Field(
        "centralised", description="critic state: all agents, or the release's argmax agent"
    )


# ---- pure functions -------------------------------------------------------------------------


def observations(v: Tensor, e: Tensor, agent_id: bool) -> Tensor:
    """o^d = [v; e^d; <e^d, v>] (+ one-hot id): v [B, k], e [B, n, k] -> [B, n, 2k+1(+n)]."""
    b, n, _ = e.shape
    parts = [v.unsqueeze(1).expand(b, n, -1), e, (e * v.unsqueeze(1)).sum(-1, keepdim=True)]
    if agent_id:
        parts.append(torch.eye(n, dtype=e.dtype).expand(b, n, n))
    return torch.cat(parts, -1)


def global_state(v: Tensor, e: Tensor, mode: str) -> Tensor:
    """s [B, S]: centralised [v; e^1..e^n; scores], or the release's argmax [v; e^a*; score]."""
    scores = (e * v.unsqueeze(1)).sum(-1)  # [B, n]
    if mode == "argmax":
        best = scores.argmax(-1)
        rows = torch.arange(len(v))
        return torch.cat([v, e[rows, best], scores[rows, best].unsqueeze(-1)], -1)
    return torch.cat([v, e.flatten(1), scores], -1)


def joint_entropy(weights: Tensor) -> Tensor:
    """H(a) = -sum_d a_d log(a_d + 1e-9) over the joint weight vector: [B, n] -> [B]."""
    return -(weights * torch.log(weights + 1e-9)).sum(-1)


def one_step_advantages(reward: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
    """Each sample is a one-step episode: A = r - V_old, return = r. [B], [B, m] -> [B, m] x2."""
    returns = reward.unsqueeze(-1).expand_as(values)
    return returns - values, returns


def gae_pseudo_trajectory(
    reward: Tensor, values: Tensor, gamma: float, lam: float
) -> tuple[Tensor, Tensor]:
    """The release: GAE over the mini-batch order, no terminal flag; the last sample only
    bootstraps. reward [B], values [B, m] -> advantages, returns [B-1, m]."""
    delta = reward[:-1].unsqueeze(-1) + gamma * values[1:] - values[:-1]  # [T, m]
    steps = torch.arange(len(delta))
    lag = (steps.unsqueeze(0) - steps.unsqueeze(1)).to(delta.dtype)  # [t, t'] = t' - t
    # A_t = sum_{t' >= t} (gamma lambda)^(t' - t) delta_t': the backward recursion as one matmul
    discount = torch.where(lag >= 0, (gamma * lam) ** lag.clamp(min=0), torch.zeros_like(lag))
    adv = discount @ delta
    return adv, adv + values[:-1]


def clipped_surrogate(logp: Tensor, logp_old: Tensor, adv: Tensor, clip: float) -> Tensor:
    """PPO's clipped objective as a loss: mean -min(rho A, clip(rho) A), rho = exp(logp - old)."""
    ratio = torch.exp(logp - logp_old)
    return -torch.min(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv).mean()


def clipped_value_loss(value: Tensor, value_old: Tensor, returns: Tensor, clip: float) -> Tensor:
    """max((V - R)^2, (V_old + clip(V - V_old) - R)^2), averaged."""
    clipped = value_old + (value - value_old).clamp(-clip, clip)
    return torch.max((value - returns).pow(2), (clipped - returns).pow(2)).mean()


# ---- networks -------------------------------------------------------------------------------


def _mlp(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    net = nn.Sequential(
        nn.Linear(d_in, hidden),
        nn.Tanh(),
        nn.Linear(hidden, hidden),
        nn.Tanh(),
        nn.Linear(hidden, d_out),
    )
    for layer in net:
        if isinstance(layer, nn.Linear):
            nn.init.orthogonal_(layer.weight)
            nn.init.zeros_(layer.bias)
    return net


class Actor(nn.Module):
    """Logits mu [B, n]: shared per-agent head on o^d, or (single agent) one head on s."""

    def __init__(
        self, obs_dim: int, state_dim: int, n: int, hidden: int, single: bool, init_log_std: float
    ) -> None:
        super().__init__()
        self.single = single
        self.net = _mlp(state_dim, hidden, n) if single else _mlp(obs_dim, hidden, 1)
        self.log_std = nn.Parameter(torch.tensor(float(init_log_std)))

    def forward(self, obs: Tensor, state: Tensor) -> Tensor:
        return self.net(state) if self.single else self.net(obs).squeeze(-1)


class Critic(nn.Module):
    """V(s, o^d) [B, n] for the agents, or V(s) [B, 1] for the single agent."""

    def __init__(self, obs_dim: int, state_dim: int, hidden: int, single: bool) -> None:
        super().__init__()
        self.single = single
        self.net = _mlp(state_dim if single else state_dim + obs_dim, hidden, 1)

    def forward(self, obs: Tensor, state: Tensor) -> Tensor:
        if self.single:
            return self.net(state)
        s = state.unsqueeze(1).expand(-1, obs.shape[1], -1)
        return self.net(torch.cat([s, obs], -1)).squeeze(-1)


@dataclass
class Rollout:
    """One-step samples: obs [N, n, o], state [N, S], z [N, n], logp / values [N, m],
    reward [N]; `chunks` are the collection mini-batches (for gae-batch)."""

    obs: Tensor
    state: Tensor
    z: Tensor
    logp: Tensor
    values: Tensor
    reward: Tensor
    chunks: list[tuple[int, int]]


class PPOWeighting:
    """Actor, critic and their optimiser; `update(rollout)` returns metrics."""

    def __init__(self, cfg: MappoConfig, n: int, k: int, single: bool, gen: torch.Generator):
        self.cfg, self.n, self.single = cfg, n, single
        obs_dim = 2 * k + 1 + (n if cfg.agent_id else 0)
        state_dim = 2 * k + 1 if cfg.global_state == "argmax" else k + n * k + n
        with torch_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=gen))):
            self.actor = Actor(obs_dim, state_dim, n, cfg.hidden, single, cfg.init_log_std)
            self.critic = Critic(obs_dim, state_dim, cfg.hidden, single)
        params = [*self.actor.parameters(), *self.critic.parameters()]
        self.opt = torch.optim.Adam(params, lr=cfg.lr, eps=cfg.adam_eps)

    def inputs(self, v: Tensor, e: Tensor) -> tuple[Tensor, Tensor]:
        return observations(v, e, self.cfg.agent_id), global_state(v, e, self.cfg.global_state)

    def log_prob(self, mu: Tensor, z: Tensor) -> Tensor:
        """log pi [B, m]: per agent (m = n) or joint (single agent, m = 1)."""
        if self.cfg.policy == "degenerate":
            probs = torch.softmax(mu, -1).unsqueeze(-1)  # [B, n, 1]: a size-1 category axis
            lp = torch.distributions.Categorical(probs=probs).log_prob(torch.zeros_like(mu))
        else:
            lp = torch.distributions.Normal(mu, self.actor.log_std.exp()).log_prob(z)
        return lp.sum(-1, keepdim=True) if self.single else lp

    @torch.no_grad()
    def act(self, v: Tensor, e: Tensor, gen: torch.Generator, sample: bool = True):
        """(obs, state, z, logp, values) for a batch; weights = softmax(z)."""
        obs, state = self.inputs(v, e)
        mu = self.actor(obs, state)
        z = mu
        if sample and self.cfg.policy == "gaussian":
            z = mu + self.actor.log_std.exp() * torch.randn(mu.shape, generator=gen)
        return obs, state, z, self.log_prob(mu, z), self.critic(obs, state)

    @torch.no_grad()
    def weights(self, v: Tensor, e: Tensor) -> Tensor:
        """Deterministic weights softmax(mu) [B, n]."""
        obs, state = self.inputs(v, e)
        return torch.softmax(self.actor(obs, state), -1)

    def losses(self, ro: Rollout, idx: Tensor, adv: Tensor, ret: Tensor) -> dict[str, Tensor]:
        obs, state = ro.obs[idx], ro.state[idx]
        mu = self.actor(obs, state)
        logp = self.log_prob(mu, ro.z[idx])
        if self.cfg.normalize_advantages and adv.numel() > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-5)
        pg = clipped_surrogate(logp, ro.logp[idx], adv, self.cfg.clip_coef)
        entropy = joint_entropy(torch.softmax(mu, -1)).mean()
        value = clipped_value_loss(
            self.critic(obs, state), ro.values[idx], ret, self.cfg.value_clip
        )
        actor = pg + self.cfg.entropy_sign * self.cfg.entropy_coef * entropy
        return {
            "pg": pg,
            "entropy": entropy,
            "critic": value,
            "actor": actor,
            "approx_kl": (ro.logp[idx] - logp).mean(),
        }

    def _step(self, terms: dict[str, Tensor]) -> None:
        self.opt.zero_grad(set_to_none=True)
        (terms["actor"] + terms["critic"]).backward()
        if self.cfg.max_grad_norm is not None:
            params = [*self.actor.parameters(), *self.critic.parameters()]
            nn.utils.clip_grad_norm_(params, self.cfg.max_grad_norm)
        self.opt.step()

    def update(self, ro: Rollout, gen: torch.Generator) -> dict[str, float]:
        sums: dict[str, float] = {}
        steps = 0
        if self.cfg.advantage == "gae-batch":  # the release: one step per stored mini-batch
            for a, b in ro.chunks:
                if b - a < 2:
                    continue
                adv, ret = gae_pseudo_trajectory(
                    ro.reward[a:b], ro.values[a:b], self.cfg.gamma, self.cfg.gae_lambda
                )
                terms = self.losses(ro, torch.arange(a, b - 1), adv, ret)
                self._step(terms)
                steps += 1
                for k, t in terms.items():
                    sums[k] = sums.get(k, 0.0) + t.item()
        else:
            adv_all, ret_all = one_step_advantages(ro.reward, ro.values)
            for _ in range(self.cfg.ppo_epochs):
                perm = torch.randperm(len(ro.reward), generator=gen)
                for start in range(0, len(perm), self.cfg.minibatch_size):
                    idx = perm[start : start + self.cfg.minibatch_size]
                    terms = self.losses(ro, idx, adv_all[idx], ret_all[idx])
                    self._step(terms)
                    steps += 1
                    for k, t in terms.items():
                        sums[k] = sums.get(k, 0.0) + t.item()
        out = {f"loss/{k}": v / max(steps, 1) for k, v in sums.items()}
        out["policy/log_std"] = self.actor.log_std.item()
        out["policy/steps"] = steps
        return out

    def state_dict(self) -> dict[str, object]:
        return {"actor": self.actor.state_dict(), "critic": self.critic.state_dict()}

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.actor.load_state_dict(state["actor"])  # type: ignore[arg-type]
        self.critic.load_state_dict(state["critic"])  # type: ignore[arg-type]
