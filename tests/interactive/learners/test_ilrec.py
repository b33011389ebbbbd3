"""IL-Rec: the discriminator separates demonstrations from a random policy, the learner beats
random, parity and ablations run, and a killed run resumes (its parts: test_irl, test_weighting,
test_losses, test_nets)."""

import numpy as np
import pytest
import torch

from rlrec.errors import ConfigError
from rlrec.interactive.env import VectorRecEnv
from rlrec.interactive.evaluate import EvaluationConfig, evaluate_policy, summarize
from rlrec.interactive.experience.offline_data import scripted_demos
from rlrec.interactive.experience.rollout import rollout
from rlrec.interactive.learners.ilrec import ILRec, ILRecConfig
from rlrec.interactive.learners.training import fit
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
