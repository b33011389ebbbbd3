"""The simulator on real data: MovieLens-100K and BiLLP's Amazon-Book histories."""

import numpy as np
import pytest

from rlrec.data import DataConfig, load_dataset
from rlrec.interactive.evaluate import EvaluationConfig, evaluate_policy, summarize
from rlrec.interactive.learners.baselines.heuristics import HEURISTICS, make_heuristic
from rlrec.interactive.world.world_builder import WorldModelConfig, make_world_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def heuristic_r_traj(world, ds, cfg):
    return {
        name: summarize(
            evaluate_policy(make_heuristic(name, world, ds.interactions, 2.0), world, cfg)
        )["R_traj"]["mean"]
        for name in HEURISTICS
    }


@pytest.mark.network
@pytest.mark.parametrize("model", ["mf", "deepfm"])
def test_ml100k_world_models_learn_the_ratings(ml100k, model):
    world = make_world_model(ml100k, WorldModelConfig(model=model), progress=False)
    heldout, constant = world.meta["metrics"]["mean"], world.meta["metrics"]["global_mean"]
    assert constant["rmse"] > 1.1  # predicting the training mean for every held-out rating
    assert heldout["rmse"] < 0.95 and heldout["mae"] < 0.76
    assert world.rewards["train"].shape == (754, 1682)
    assert world.rewards["test"].shape == (189, 1682)
    assert not set(world.users["train"].tolist()) & set(world.users["test"].tolist())


@pytest.mark.network
def test_ml100k_heuristics_rank_oracle_greedy_popularity_random(ml100k):
    world = make_world_model(ml100k, WorldModelConfig(model="mf"), progress=False)
    r = heuristic_r_traj(world, ml100k, EvaluationConfig(seeds=[0, 1]))
    assert r["oracle"] > r["greedy"] > r["popularity"] > r["random"]


def test_billp_amazon_world_model_over_the_whole_catalogue(billp_data):
    ds = load_dataset(DataConfig(name="billp-amazon", path=billp_data / "amazon"))
    world = make_world_model(ds, WorldModelConfig(model="mf"), progress=False)
    assert world.n_items == 13_864
    assert world.rewards["test"].shape[1] == 13_864
    assert len(world.users["train"]) + len(world.users["test"]) == 1_049
    assert world.meta["implicit"] and world.meta["metrics"]["mean"]["auc"] > 0.8
    assert np.all((world.rewards["test"] >= 0) & (world.rewards["test"] <= 5))
    r = heuristic_r_traj(world, ds, EvaluationConfig(seeds=[0]))
    assert r["oracle"] > r["greedy"] > r["popularity"] > r["random"]
