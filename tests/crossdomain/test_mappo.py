"""Pure PPO pieces with hand-computed numbers, and the guard against the released defect:
the policy-gradient term must carry gradient (it is exactly zero in the released code)."""

from __future__ import annotations

import math

import pytest
import torch

from rlrec.crossdomain.mappo import (
    MappoConfig,
    PPOWeighting,
    clipped_surrogate,
    clipped_value_loss,
    gae_pseudo_trajectory,
    global_state,
    joint_entropy,
    observations,
    one_step_advantages,
)


def test_clipped_surrogate_hand_numbers() -> None:
    logp = torch.log(torch.tensor([1.5, 0.5, 1.1]))
    adv = torch.tensor([1.0, -2.0, 3.0])
    # ratios 1.5, 0.5, 1.1 -> min(rA, clip(r)A): 1.2, -1.6 (0.8 * -2 is lower), 3.3
    loss = clipped_surrogate(logp, torch.zeros(3), adv, 0.2)
    assert loss.item() == pytest.approx(-(1.2 - 1.6 + 3.3) / 3, rel=1e-6)


def test_value_clipping_takes_the_larger_error() -> None:
    v, old, ret = torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([2.0])
    # clipped value 0.2 -> (1.8)^2 = 3.24 > (1.0)^2
    assert clipped_value_loss(v, old, ret, 0.2).item() == pytest.approx(3.24)


def test_gae_three_step_toy() -> None:
    r = torch.tensor([1.0, 0.0, 2.0])
    v = torch.tensor([[0.5], [1.0], [0.0]])
    adv, ret = gae_pseudo_trajectory(r, v, gamma=0.5, lam=0.5)
    d0, d1 = 1 + 0.5 * 1.0 - 0.5, 0 + 0.5 * 0.0 - 1.0
    assert adv[:, 0].tolist() == pytest.approx([d0 + 0.25 * d1, d1])
    assert ret[:, 0].tolist() == pytest.approx([d0 + 0.25 * d1 + 0.5, d1 + 1.0])


def test_one_step_advantages() -> None:
    adv, ret = one_step_advantages(torch.tensor([-1.0, -4.0]), torch.tensor([[-2.0], [-1.0]]))
    assert adv[:, 0].tolist() == [1.0, -3.0] and ret[:, 0].tolist() == [-1.0, -4.0]


def test_joint_entropy_and_shapes() -> None:
    h = joint_entropy(torch.tensor([[0.25] * 4, [1.0, 0, 0, 0]]))
    assert h.tolist() == pytest.approx([math.log(4), 0.0], abs=1e-6)
    v, e = torch.randn(5, 3), torch.randn(5, 2, 3)
    assert observations(v, e, agent_id=True).shape == (5, 2, 2 * 3 + 1 + 2)
    assert global_state(v, e, "centralised").shape == (5, 3 + 6 + 2)
    assert global_state(v, e, "argmax").shape == (5, 2 * 3 + 1)


def _pg_grad_norm(policy: str) -> float:
    gen = torch.Generator().manual_seed(0)
    ppo = PPOWeighting(MappoConfig(policy=policy), n=3, k=4, single=False, gen=gen)
    v, e = torch.randn(64, 4, generator=gen), torch.randn(64, 3, 4, generator=gen)
    obs, state, z, logp_old, _ = ppo.act(v, e, gen)
    adv = torch.randn(64, 3, generator=gen)
    mu = ppo.actor(obs, state)
    loss = clipped_surrogate(ppo.log_prob(mu, z), logp_old, adv, 0.2)
    grads = torch.autograd.grad(loss, list(ppo.actor.net.parameters()), allow_unused=True)
    return sum(float(g.norm()) for g in grads if g is not None)


def test_policy_gradient_term_is_nonzero() -> None:
    assert _pg_grad_norm("gaussian") > 1e-3


def test_parity_policy_gradient_term_is_exactly_zero() -> None:
    assert _pg_grad_norm("degenerate") == 0.0


def test_entropy_sign_moves_entropy_its_way() -> None:
    gen = torch.Generator().manual_seed(1)
    v, e = torch.randn(256, 4, generator=gen), torch.randn(256, 3, 4, generator=gen)
    ends = {}
    for sign in (1, -1):
        ppo = PPOWeighting(
            MappoConfig(entropy_coef=1.0, entropy_sign=sign),
            3,
            4,
            False,
            torch.Generator().manual_seed(2),
        )
        for _ in range(30):
            obs, state = ppo.inputs(v, e)
            h = joint_entropy(torch.softmax(ppo.actor(obs, state), -1)).mean()
            ppo.opt.zero_grad()
            (sign * h).backward()
            ppo.opt.step()
        ends[sign] = joint_entropy(ppo.weights(v, e)).mean().item()
    assert ends[1] < ends[-1]
