"""IL-Rec's losses as pure functions, each against a hand computation or the direction it must
push the networks (docs/ilrec.md, "Discriminator and IRL reward", "Critic and policy losses")."""

import math

import pytest
import torch

from rlrec.interactive.learners.losses import (
    critic_loss,
    discriminator_loss,
    imitation_loss,
    normalised_advantage,
    policy_loss,
    value_target,
)


def test_discriminator_loss_is_the_balanced_bce_with_policy_one_demo_zero():
    zero = torch.zeros(3)
    assert discriminator_loss(zero, zero).item() == pytest.approx(math.log(2))
    right = discriminator_loss(torch.full((3,), 8.0), torch.full((3,), -8.0))
    wrong = discriminator_loss(torch.full((3,), -8.0), torch.full((3,), 8.0))
    assert right.item() < 1e-3 and wrong.item() > 7.9  # labels: policy = 1, demo = 0
    # each side weighs one half, however many pairs it has
    lopsided = discriminator_loss(torch.zeros(1), torch.full((50,), -30.0))
    assert lopsided.item() == pytest.approx(0.5 * math.log(2), abs=1e-6)


def test_value_target_bootstraps_only_where_the_episode_goes_on():
    y = value_target(
        torch.tensor([1.0, 2.0]), torch.tensor([10.0, 10.0]), torch.tensor([0.0, 1.0]), 0.5
    )
    assert y.tolist() == [6.0, 2.0]


def test_critic_loss_weights_the_q_error_and_not_the_v_error():
    q, v = torch.tensor([1.0, 2.0]), torch.tensor([0.0, 1.0])
    y, w = torch.tensor([1.0, 1.0]), torch.tensor([2.0, 1.0])
    # mean(w (q - y)^2) = (2 * 0 + 1 * 1) / 2, MSE(v, y) = (1 + 0) / 2
    assert critic_loss(q, v, y, w).item() == pytest.approx(1.0)
    assert critic_loss(q, v, y, torch.tensor([1.0, 0.0])).item() == pytest.approx(0.5)


def test_normalised_advantage_standardises_clips_and_is_zero_for_one_record():
    q, v = torch.tensor([1.0, 2.0, 3.0, 10.0]), torch.zeros(4)
    adv = normalised_advantage(q, v, clip=100.0)
    assert adv.mean().abs().item() < 1e-6 and adv.std().item() == pytest.approx(1.0, abs=1e-4)
    assert normalised_advantage(q, v, clip=1.0).max().item() == pytest.approx(1.0)
    assert normalised_advantage(torch.tensor([5.0]), torch.tensor([1.0]), 5.0).item() == 0.0


def test_imitation_loss_divides_by_the_demos_or_by_the_batch():
    log_pi = torch.log(torch.tensor([0.5, 0.25, 0.1, 0.2]))
    weights = torch.tensor([1.0, 2.0, 4.0, 1.0])
    is_demo = torch.tensor([False, True, True, False])
    total = -(2.0 * math.log(0.25) + 4.0 * math.log(0.1))
    assert imitation_loss(log_pi, weights, is_demo, True).item() == pytest.approx(total / 2)
    assert imitation_loss(log_pi, weights, is_demo, False).item() == pytest.approx(total / 4)


def test_policy_loss_by_hand_without_demonstrations():
    n_items = 4
    log_probs = torch.full((2, n_items), -math.log(n_items))  # uniform: H = log 4
    actions, adv = torch.tensor([0, 3]), torch.tensor([1.0, -3.0])
    none = torch.zeros(2, dtype=torch.bool)
    loss = policy_loss(log_probs, actions, adv, torch.ones(2), none, 0.1, 0.5, True)
    expected = math.log(n_items) * (1.0 - 3.0) / 2 - 0.1 * math.log(n_items)
    assert loss.item() == pytest.approx(expected)


def _step(adv: float, is_demo: bool, weight: float = 1.0) -> torch.Tensor:
    """pi after one gradient step on logits of 3 items, action 1 taken, from uniform."""
    logits = torch.zeros(1, 3, requires_grad=True)
    loss = policy_loss(
        torch.log_softmax(logits, -1), torch.tensor([1]), torch.tensor([adv]),
        torch.tensor([weight]), torch.tensor([is_demo]), 0.0, 1.0, True,
    )  # fmt: skip
    loss.backward()
    with torch.no_grad():
        return torch.softmax(logits - 1.0 * logits.grad, -1)[0]


def test_policy_loss_pushes_towards_good_actions_and_weighted_demonstrations():
    assert _step(1.0, False)[1] > 1 / 3 > _step(-1.0, False)[1]
    # a demonstration is imitated even at zero advantage, the more the heavier its weight
    assert _step(0.0, False)[1] == pytest.approx(1 / 3)
    assert 1 / 3 < _step(0.0, True, 1.0)[1] < _step(0.0, True, 3.0)[1]
