"""IL-Rec with experts of known quality (issue 15 item 3), on a small synthetic world.

- The good expert knows each item's quality (its mean reward over the train users) but not the
  user: it recommends the best items it has not just shown, with Gaussian noise (std 1.5) on the
  scores. It returns far more than pure RL after the same budget.
- The adversarial expert recommends each user's *worst* item: every demonstration is one step
  that quits, worse than random.

With the default `advantage` weighting IL-Rec must gain from the good expert (beat pure RL) and
stay within 15% of pure RL with the bad one after 300 episodes (it reaches pure RL by 1,000,
measured in docs/ilrec.md; the test keeps the shorter budget), where the paper's mean-1
weighting follows the bad expert far below it; and beat the bad expert and random by far.
What these budgets do not show: IL-Rec beating the good expert itself (docs/ilrec.md).
"""

import numpy as np
import pytest

from rlrec.interactive.env import VectorRecEnv
from rlrec.interactive.evaluate import evaluate_policy, summarize
from rlrec.interactive.experience.rollout import rollout
from rlrec.interactive.learners.baselines.heuristics import RandomPolicy
from rlrec.interactive.learners.ilrec import ILRec, ILRecConfig
from rlrec.interactive.learners.training import fit
from rlrec.interactive.world.synthetic_world import synthetic_world

from .test_ilrec import EVAL, QUICK  # the same small world, the same schedule

EPISODES, SEEDS, NOISE = 300, (0, 1), 1.5


@pytest.fixture(scope="module")
def world():
    return synthetic_world(n_users=100, n_items=80, quality=1.0, seed=0)


def expert_scores(world, split, good, rows):
    """[B, I] what an expert maximises: item quality (good) or the user's dislike (bad)."""
    if good:
        quality = world.rewards["train"].mean(0)
        return np.broadcast_to(quality, (len(rows), world.n_items)).copy()
    return -world.rewards[split][rows]


def expert_act(world, split, good, rng):
    def act(rows, items, _rewards):
        scores = expert_scores(world, split, good, rows)
        if good:
            scores = scores + rng.normal(0, NOISE, scores.shape)
        seen = items >= 0
        scores[np.nonzero(seen)[0], items[seen]] = -np.inf
        return scores.argmax(1)

    return act


class Expert:
    """The expert as an evaluation policy on the test users."""

    def __init__(self, world, good):
        self.name, self.world, self.good = "expert", world, good

    def act(self, obs, rng, greedy=False):
        return expert_act(self.world, "test", self.good, rng)(obs.users, obs.window_items, None)


def demos(world, good, n_users=40):
    env = VectorRecEnv.from_world(world, "train")
    act = expert_act(world, "train", good, np.random.default_rng(0))
    return rollout(env, np.arange(n_users), act).transitions


def r_traj(policy, world):
    return summarize(evaluate_policy(policy, world, EVAL))["R_traj"]["mean"]


def trained(world, demos_or_none, **change):
    scores = []
    for seed in SEEDS:
        cfg = ILRecConfig(
            train_episodes=EPISODES, use_demos=demos_or_none is not None, **{**QUICK, **change}
        )
        learner = ILRec(world, cfg, seed, demos_or_none)
        fit(learner, EPISODES)
        scores.append(r_traj(learner.policy(), world))
    return float(np.mean(scores))


def test_ilrec_gains_from_a_good_expert_and_shrugs_off_a_bad_one(world, one_torch_thread):
    random, good, bad = (
        r_traj(RandomPolicy(), world),
        r_traj(Expert(world, True), world),
        r_traj(Expert(world, False), world),
    )
    pure = trained(world, None)
    assert good > 1.2 * pure and bad < 0.5 * random, (good, pure, bad, random)  # known quality

    with_good = trained(world, demos(world, True))
    assert with_good > 1.05 * pure, (with_good, pure)

    bad_demos = demos(world, False)
    with_bad = trained(world, bad_demos)
    paper_bad = trained(world, bad_demos, weighting="paper")
    assert with_bad > 0.85 * pure, (with_bad, pure)  # within the seed spread of pure RL
    assert with_bad > paper_bad + 0.1 * pure, (with_bad, paper_bad)  # the paper follows it
    assert with_bad > 2 * random and with_bad > 10 * max(bad, 0.1)
