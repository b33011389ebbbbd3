"""The learned baselines: each learns on a small simulator, checkpoints resume exactly and the
registry's errors are clear (the pieces of each, by hand: test_dorl, test_cql, test_dqn)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from rlrec.errors import ConfigError
from rlrec.interactive.env import QuitConfig, VectorRecEnv
from rlrec.interactive.evaluate import EvaluationConfig, evaluate_policy
from rlrec.interactive.experience.offline_data import logged_transitions
from rlrec.interactive.experience.rollout import rollout
from rlrec.interactive.experience.transitions import Transitions
from rlrec.interactive.learners.baselines import BASELINES, BaselinesConfig, make_baseline
from rlrec.interactive.learners.baselines.heuristics import RandomPolicy
from rlrec.interactive.learners.training import fit
from rlrec.interactive.world.worldmodel import WorldModel

QUIT = QuitConfig(max_turns=20)  # short episodes keep the tests fast
EVAL = EvaluationConfig(n_users=40, seeds=[0, 1], quit=QUIT)
SEEDS = (0, 1)


def preference_world(n_users=60, n_items=80, n_good=12, seed=0) -> WorldModel:
    """Most items earn a reward below the quit threshold 2; `n_good` items are liked by every
    user, each to a user-specific degree (~4 +- 0.5), and the rest only by some. Test users
    are new to the networks (`NEW_USER`), so what transfers is the item structure and the
    history: recommend good items that are not in the window."""
    rng = np.random.default_rng(seed)
    good = rng.choice(n_items, n_good, replace=False)
    fair = rng.choice(np.setdiff1d(np.arange(n_items), good), n_good, replace=False)

    def rewards() -> np.ndarray:
        r = rng.uniform(0.2, 1.8, (n_users, n_items))
        r[:, good] = 4.0 + rng.normal(0, 0.5, (n_users, n_good))
        liked = rng.random((n_users, n_good)) < 0.5  # the fair items please half the users
        r[:, fair] = np.where(liked, 3.0, 1.0)
        return np.clip(r, 0, 5).astype(np.float32)

    return WorldModel(
        rewards={"train": rewards(), "test": rewards()},
        users={"train": np.arange(n_users), "test": np.arange(1000, 1000 + n_users)},
        items=pd.DataFrame({"item_id": np.arange(n_items)}),
        distance_threshold=0.05,  # only repeats quit: random 8-d embeddings are far apart
        item_embeddings=rng.normal(size=(n_items, 8)).astype(np.float32),
        uncertainty={
            s: rng.uniform(0, 1, (n_users, n_items)).astype(np.float32) for s in ("train", "test")
        },
    )


def behaviour_episodes(world: WorldModel, episodes=200, good=0.9, seed=1) -> Transitions:
    """Simulator rollouts of a decent, noisy logging policy: with probability `good` a
    well-rewarded item not in the window, otherwise a uniform item (which usually quits)."""
    rng = np.random.default_rng(seed)
    env = VectorRecEnv.from_world(world, "train", QUIT)
    r = world.rewards["train"]

    def act(users, items, rewards):
        scores = r[users] + 0.3 * rng.gumbel(size=(len(users), r.shape[1]))
        rows = np.arange(len(users))[:, None]
        scores[rows, np.where(items >= 0, items, 0)] -= 100.0 * (items >= 0)
        uniform = rng.integers(0, r.shape[1], len(users))
        return np.where(rng.random(len(users)) < good, scores.argmax(1), uniform)

    return rollout(env, rng.integers(0, len(r), episodes), act).transitions


@pytest.fixture(scope="module")
def world() -> WorldModel:
    return preference_world()


@pytest.fixture(scope="module")
def dataset(world) -> Transitions:
    return behaviour_episodes(world)


@pytest.fixture(scope="module")
def random_return(world) -> float:
    return float(np.mean(evaluate_policy(RandomPolicy(), world, EVAL)["R_traj"]))


def fast_config() -> BaselinesConfig:
    """Defaults, except a larger learning rate, short episodes and a quick epsilon decay."""
    cfg = {name: {"lr": 3e-3} for name in BASELINES}
    for name in ("a2c", "dorl", "dqn"):
        cfg[name]["quit"] = QUIT.model_dump()
    cfg["dqn"]["exploration_episodes"] = 300
    return BaselinesConfig.model_validate(cfg)


BUDGETS = {  # units of each learner: episodes (simulator) or updates (offline)
    "bc": 100,
    "sqn": 100,
    "bcq": 100,
    "cql": 100,
    "crr": 100,
    "a2c": 3840,
    "dorl": 3840,
    "dqn": 480,
}


@pytest.mark.parametrize("name", list(BASELINES))
def test_each_baseline_beats_random(name, world, dataset, random_return, one_torch_thread):
    cfg = fast_config()
    returns = []
    for seed in SEEDS:
        learner = make_baseline(name, world, cfg, seed, logged=dataset, demos=dataset)
        fit(learner, BUDGETS[name], progress=False)
        returns.append(float(np.mean(evaluate_policy(learner.policy(), world, EVAL)["R_traj"])))
    print(f"{name}: R_traj {np.round(returns, 2).tolist()} vs random {random_return:.2f}")
    assert min(returns) > 3 * random_return, (returns, random_return)


def parameters(learner) -> dict[str, torch.Tensor]:
    return {
        f"{k}.{p}": v.detach().clone()
        for k, m in learner.modules.items()
        for p, v in m.state_dict().items()
    }


@pytest.mark.parametrize(("name", "budget"), [("dqn", 64), ("a2c", 256), ("crr", 40)])
def test_resume_gives_the_uninterrupted_result(
    name, budget, world, dataset, tmp_path, one_torch_thread
):
    cfg = fast_config().model_copy(deep=True)
    if name == "dqn":
        cfg.dqn.learning_starts = 16  # updates happen before the interruption
    if name == "crr":
        cfg.crr.target_update_every = 7  # the target network syncs in both halves

    def make():
        return make_baseline(name, world, cfg, 3, logged=dataset)

    whole = make()
    whole_curve = fit(whole, budget, progress=False)
    first = make()
    fit(first, budget // 2, folder=tmp_path)
    resumed = make()
    resumed_curve = fit(resumed, budget, folder=tmp_path)
    a, b = parameters(whole), parameters(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert resumed_curve == whole_curve


def test_make_baseline_errors(world, dataset):
    cfg = BaselinesConfig()
    with pytest.raises(ConfigError, match=r"unknown baseline 'ppo'.*bc, dqn, sqn"):
        make_baseline("ppo", world, cfg, 0)
    plain = WorldModel(**{**world.__dict__, "uncertainty": {}})
    with pytest.raises(ConfigError, match=r"worldmodel\.n_ensemble > 1"):
        make_baseline("dorl", plain, cfg, 0)
    with pytest.raises(ConfigError, match="'cql' learns offline from the logged sessions"):
        make_baseline("cql", world, cfg, 0, demos=dataset)
    with pytest.raises(ConfigError, match="'bc' learns offline from the demonstrations"):
        make_baseline("bc", world, cfg, 0, logged=dataset)
    demos_cfg = BaselinesConfig(offline_source="demos")
    with pytest.raises(ConfigError, match="demonstrations"):
        make_baseline("sqn", world, demos_cfg, 0, logged=dataset)
    assert make_baseline("sqn", world, demos_cfg, 0, demos=dataset).data is dataset


def test_config_section_from_yaml_values():
    cfg = BaselinesConfig.model_validate({"dqn": {"lr": 5e-4}, "dorl": {"lambda_entropy": 5}})
    assert cfg.dqn.lr == 5e-4 and cfg.dorl.lambda_entropy == 5 and cfg.dorl.lambda_variance == 0.05
    with pytest.raises(ValueError):
        BaselinesConfig.model_validate({"dqn": {"learning_rate": 1e-3}})


def test_offline_learner_on_logged_sessions(world, one_torch_thread):
    """The default offline source: the train users' logs through `logged_transitions`."""
    rng = np.random.default_rng(0)
    logs = pd.DataFrame(
        {
            "user_id": np.repeat(np.arange(60), 12),
            "item_id": rng.integers(0, 80, 720),
            "timestamp": np.tile(np.arange(12), 60),
        }
    )
    logged = logged_transitions(world, logs, window=4, max_turns=6)
    learner = make_baseline("bcq", world, BaselinesConfig(), 0, logged=logged)
    stats = learner.step()
    assert stats["updates"] == 10 and np.isfinite(stats["loss"])
