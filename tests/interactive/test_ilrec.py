"""IL-Rec: the discriminator separates demonstrations from a random policy, the weights follow
the formula, the learner beats random, parity and ablations run, and a killed run resumes."""

import numpy as np
import pytest
import torch

from rlrec.errors import ConfigError
from rlrec.interactive.env import VectorRecEnv
from rlrec.interactive.evaluate import EvaluationConfig, evaluate_policy, summarize
from rlrec.interactive.experience.offline_data import scripted_demos
from rlrec.interactive.experience.rollout import rollout
from rlrec.interactive.learners.ilrec import ILRec, ILRecConfig
from rlrec.interactive.learners.irl import (
    Discriminator,
    irl_reward,
    log_density_ratio,
    state_action_text,
)
from rlrec.interactive.learners.training import fit
from rlrec.interactive.learners.weighting import demo_advantage, demo_weights
from rlrec.interactive.world.synthetic_world import synthetic_world

EVAL = EvaluationConfig(n_users=30, seeds=[0, 1, 2])
# a small world learns faster with more, smaller updates than the default schedule
QUICK = {
    "logit_clamp": 5.0,
    "discriminator_every": 64,
    "episodes_per_iteration": 16,
    "updates_per_iteration": 16,
    "batch_size": 64,
}


@pytest.fixture(scope="module")
def world():
    return synthetic_world(n_users=100, n_items=80, quality=1.0, seed=0)


def expert_demos(world, n_users=40, noise=1.5, seed=0):
    """The scripted, imperfect expert (docs/ilrec.md#scripted-expert)."""
    return scripted_demos(world, np.arange(n_users), noise, seed)


def random_policy_pairs(world, n_episodes=210, seed=0):
    rng = np.random.default_rng(seed)
    env = VectorRecEnv.from_world(world, "train")
    users = np.arange(n_episodes) % len(world.users["train"])
    return rollout(env, users, lambda u, i, r: rng.integers(0, world.n_items, len(u))).transitions


def split(t):
    """(3/4, 1/4) of the steps."""
    i = np.arange(len(t))
    return t.take(i[i % 4 != 0]), t.take(i[i % 4 == 0])


def r_traj(policy, world):
    return summarize(evaluate_policy(policy, world, EVAL))["R_traj"]["mean"]


def random_r_traj(world):
    from rlrec.interactive.learners.baselines.heuristics import RandomPolicy

    return r_traj(RandomPolicy(), world)


def test_irl_reward_and_density_ratio_follow_the_formulas():
    logit = torch.tensor([-2.0, 0.0, 3.0, 100.0], dtype=torch.float64)
    d = torch.sigmoid(logit).clamp(1e-8, 1 - 1e-8)
    assert torch.allclose(irl_reward(logit), -torch.log(d), atol=1e-5)
    assert torch.allclose(log_density_ratio(logit, 0.5), 0.5 * torch.log((1 - d) / d), atol=1e-4)
    airl = Discriminator(3, airl=True)
    x, log_pi = torch.randn(4, 3), torch.log(torch.tensor([0.1, 0.2, 0.3, 0.4]))
    f = airl.net(x).squeeze(-1)
    d_demo = torch.exp(f) / (torch.exp(f) + torch.exp(log_pi))  # D = exp f / (exp f + pi)
    assert torch.allclose(torch.sigmoid(-airl(x, log_pi)), d_demo, atol=1e-5)
    with pytest.raises(ValueError, match="log pi"):
        airl(x)


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


def test_state_action_text_is_the_release_template():
    text = state_action_text("amazon", 7, [-1, 3], [0.0, 4.5], 9, "Dune")
    assert text.splitlines() == [
        "template=ilrec_state_action_v1",
        "dataset=amazon",
        "user_id=7",
        "history=[item_id=3 reward=4.500000]",
        "candidate=item_id=9 text=Dune",
    ]


def test_discriminator_separates_demonstrations_from_a_random_policy(world, one_torch_thread):
    demo_train, demo_test = split(expert_demos(world, n_users=70))
    policy_train, policy_test = split(random_policy_pairs(world))
    cfg = ILRecConfig(train_episodes=10, discriminator_steps=300, **QUICK)
    learner = ILRec(world, cfg, seed=0, demos=demo_train)
    learner._train_discriminator(policy_train, demo_train)
    p_policy = learner.discriminator_probability(policy_test)  # D = P(policy | s, a)
    p_demo = learner.discriminator_probability(demo_test)
    accuracy = 0.5 * ((p_policy > 0.5).mean() + (p_demo < 0.5).mean())
    assert accuracy > 0.68, accuracy  # chance: 0.5


def test_ilrec_beats_random(world, one_torch_thread):
    demos = expert_demos(world)
    base = random_r_traj(world)
    scores = []
    for seed in (0, 1):
        learner = ILRec(world, ILRecConfig(train_episodes=1500, **QUICK), seed, demos)
        curve = fit(learner, 1500)
        assert curve[-1]["episodes"] == 1500 and np.isfinite(curve[-1]["loss/critic"])
        assert 0.0 < curve[-1]["discriminator/accuracy"] <= 1.0
        scores.append(r_traj(learner.policy(), world))
    assert min(scores) > 1.5 * base, (scores, base)


@pytest.mark.parametrize(
    "change",
    [
        {"mode": "parity"},
        {"weighting": "paper"},
        {"use_weights": False},
        {"alpha": 0.0},
        {"alpha": 1.0},
        {"lambda_irl": 0.0},
        {"use_demos": False},
        {"airl": True},
    ],
)
def test_modes_and_ablations_train(world, change, one_torch_thread):
    demos = expert_demos(world, n_users=20)
    cfg = ILRecConfig(train_episodes=128, **{**QUICK, **change})
    learner = ILRec(world, cfg, 0, demos)
    curve = fit(learner, 128)
    assert curve[-1]["episodes"] == 128
    if change.get("use_demos") is False:
        assert learner.demos is None and "weights/max" not in curve[-1]
    elif change.get("use_weights") is False or change.get("mode") == "parity":
        # parity reweights only at episode multiples of 5,000 (here: the 8 demos of episode 0)
        changed = int((learner.weights != 1.0).sum())
        assert changed == (0 if change.get("use_weights") is False else 8)
    elif change.get("weighting") == "paper":
        assert np.isclose(learner.weights.mean(), 1.0, atol=1e-3)
    else:  # advantage weighting: the learner's critic, no renormalising
        assert not np.isclose(learner.weights.mean(), 1.0, atol=1e-3)
        assert learner.weights.max() <= learner.cfg.weight_max


def test_missing_demonstrations_is_a_clear_error(world):
    with pytest.raises(ConfigError, match="needs demonstrations"):
        ILRec(world, ILRecConfig(), 0, None)
    with pytest.raises(ConfigError, match="sentence embedder"):
        ILRec(world, ILRecConfig(features="text"), 0, expert_demos(world, 5))


def test_a_killed_run_resumes_to_the_same_parameters(world, tmp_path, one_torch_thread):
    demos = expert_demos(world, n_users=20)
    cfg = ILRecConfig(train_episodes=192, **QUICK)
    whole = ILRec(world, cfg, 3, demos)
    fit(whole, 192)
    first = ILRec(world, cfg, 3, demos)
    fit(first, 96, folder=tmp_path, checkpoint_every=32)
    second = ILRec(world, cfg, 3, demos)  # a new process: everything comes from the checkpoint
    curve = fit(second, 192, folder=tmp_path, checkpoint_every=32)
    assert [r["episodes"] for r in curve] == [16 * (i + 1) for i in range(12)]
    for a, b in zip(whole.net.parameters(), second.net.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    assert np.allclose(whole.weights, second.weights, atol=1e-6)


def test_text_features_embed_each_state_action_text_once(world, one_torch_thread):
    from rlrec.interactive.llm.memory import NgramEmbedder

    demos = expert_demos(world, n_users=10)
    cfg = ILRecConfig(train_episodes=64, features="text", **QUICK)
    learner = ILRec(world, cfg, 0, demos, text_embedder=NgramEmbedder(dim=64))
    assert learner.disc.net[0].in_features == 64
    n_texts = len(learner.text.cache)
    assert n_texts == len({(u, tuple(i), tuple(r), a) for u, i, r, a in zip(
        demos.users, map(tuple, demos.window_items), map(tuple, demos.window_rewards),
        demos.actions, strict=True)})  # fmt: skip
    fit(learner, 64)
    assert len(learner.text.cache) > n_texts and np.isfinite(learner.last["loss/discriminator"])
