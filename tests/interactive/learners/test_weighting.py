"""Demonstration weights: the paper's fused, mean-1 weights with A_demo fitted on the demos'
returns, and the advantage weighting (IL-Rec's default): AWR's exp(A / beta) against the
learner's critic, the discriminator's ratio relative to its mean, clipped, never renormalised."""

import numpy as np
import torch

from rlrec.interactive.learners.weighting import advantage_weights, demo_advantage, demo_weights


def test_advantage_weights_keep_their_absolute_scale():
    adv = np.array([-5.0, 0.0, 2.0])
    w = advantage_weights(adv, np.zeros(3), beta=1.0, alpha=1.0)
    assert np.allclose(w, np.exp(adv), rtol=1e-5)  # not renormalised to mean 1
    assert w.mean() > 1.5
    bad = advantage_weights(np.full(4, -8.0), np.zeros(4), beta=1.0, alpha=1.0)
    assert bad.max() < 1e-3  # demonstrations all worse than the learner: imitation off
    # the paper's weighting gives the same demonstrations the full mean-1 strength
    assert np.allclose(demo_weights(np.full(4, -8.0), np.zeros(4), beta=1.0, alpha=1.0), 1.0)


def test_advantage_weights_fuse_a_relative_density_ratio():
    adv = np.array([-1.0, 0.0, 1.0])
    log_ratio = np.log(np.array([2.0, 1.0, 0.5]))
    w = advantage_weights(adv, log_ratio, beta=2.0, alpha=0.5)
    relative = np.array([2.0, 1.0, 0.5]) / (3.5 / 3)
    assert np.allclose(w, np.exp(adv / 2.0) * relative**0.5, rtol=1e-5)
    # only the ratio's ranking matters: shifting every log ratio changes nothing
    assert np.allclose(advantage_weights(adv, log_ratio + 30.0, 2.0, 0.5), w, rtol=1e-5)
    # alpha only weighs the ratio: the advantage gate keeps its full strength
    assert np.allclose(advantage_weights(adv, log_ratio, 2.0, 1.0), np.exp(adv / 2.0), rtol=1e-5)
    assert np.allclose(
        advantage_weights(adv, log_ratio, 2.0, 0.0), np.exp(adv / 2.0) * relative, rtol=1e-5
    )


def test_advantage_weights_are_clipped():
    w = advantage_weights(np.array([1e6, -1e6, 0.0]), np.zeros(3), 1.0, 1.0, w_max=20.0)
    assert np.isfinite(w).all()
    assert np.allclose(w, [20.0, 1e-6, 1.0], rtol=1e-5)


def test_weights_fuse_advantage_and_density_ratio():
    adv = np.array([-1.0, 0.0, 1.0, 2.0])
    ratio = np.array([0.5, 0.0, -0.5, 0.0])
    env_only = demo_weights(adv, ratio, beta=1.0, alpha=1.0)
    assert np.allclose(env_only, np.exp(adv) / np.exp(adv).mean())
    irl_only = demo_weights(adv, ratio, beta=1.0, alpha=0.0)
    assert np.allclose(irl_only, np.exp(ratio) / np.exp(ratio).mean())
    fused = demo_weights(adv, ratio, beta=2.0, alpha=0.25)
    raw = np.exp(0.25 * adv / 2.0 + 0.75 * ratio)
    assert np.allclose(fused, raw / raw.mean()) and np.isclose(fused.mean(), 1.0)
    huge = demo_weights(np.array([1e6, 0.0]), np.zeros(2), beta=1.0, alpha=1.0)
    assert np.isfinite(huge).all() and huge.max() <= 1e6  # A/beta clamped, w clipped


def test_demo_advantage_ranks_better_actions_higher():
    gen = torch.Generator().manual_seed(0)
    state = torch.randn(200, 4, generator=gen)
    good = (torch.rand(200, generator=gen) > 0.5).float()
    pair = torch.cat([state, good[:, None]], 1)
    returns = state[:, 0] + 2 * good  # the action adds 2 to the return
    adv = demo_advantage(state, pair, returns, steps=300, lr=1e-2)
    assert adv[good.numpy() == 1].mean() > adv[good.numpy() == 0].mean() + 1.0
