"""Learned world models (`interactive.world.world_builder`) and how `make_world_model` picks."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rlrec.data import DataConfig, Dataset, load_dataset
from rlrec.data.dataset import interactions_frame
from rlrec.data.synthetic import SyntheticConfig
from rlrec.errors import DataError
from rlrec.interactive.world.world_builder import (
    WorldModelConfig,
    auc,
    build_world_model,
    make_world_model,
    to_reward,
)
from rlrec.interactive.world.worldmodel import SPLITS, WorldModel

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAST = {"epochs": 25, "patience": 3, "batch_size": 256, "dim": 16, "hidden": [32]}


@pytest.fixture(scope="module")
def ratings() -> Dataset:
    """Synthetic MovieLens-format ratings: 150 users x 120 items, ~6,000 ratings."""
    synthetic = SyntheticConfig(n_users=150, n_items=120, ratings_per_user=40)
    return load_dataset(DataConfig(name="synthetic-interactive", synthetic=synthetic))


@pytest.fixture(scope="module")
def mf_world(ratings: Dataset) -> WorldModel:
    return build_world_model(ratings, WorldModelConfig(model="mf", **FAST), progress=False)


def implicit_dataset(n_users: int = 120, n_items: int = 150, per_user: int = 25) -> Dataset:
    """BiLLP-like implicit histories: each user reads mostly books of one favourite genre."""
    rng = np.random.default_rng(7)
    genre = rng.integers(0, 6, n_items)
    favourite = rng.integers(0, 6, n_users)
    users, items = [], []
    for u in range(n_users):  # test-data generation only
        p = np.where(genre == favourite[u], 10.0, 1.0)
        users += [10 * u + 3] * per_user  # raw ids that are not positions
        items += list(rng.choice(n_items, per_user, replace=False, p=p / p.sum()))
    positions = np.tile(np.arange(per_user), n_users)
    inter = interactions_frame(users, items, np.full(len(users), np.nan), positions, "billp-toy")
    inter["split"] = "test"
    catalogue = pd.DataFrame(
        {
            "item_id": np.arange(n_items),
            "title": [f"Book {i}" for i in range(n_items)],
            "genres": [[f"Genre {g}", "Books"] for g in genre],
        }
    )
    return Dataset(name="billp-toy", interactions=inter, items=catalogue)


# -- learned world models ------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["mf", "deepfm"])
def test_rating_models_beat_the_global_mean(ratings: Dataset, model: str) -> None:
    wm = build_world_model(ratings, WorldModelConfig(model=model, **FAST), progress=False)
    metrics = wm.meta["metrics"]
    assert metrics["mean"]["rmse"] < 0.8 * metrics["global_mean"]["rmse"]
    assert metrics["mean"]["mae"] < metrics["global_mean"]["mae"]
    assert wm.meta["rating_range"] == [1.0, 5.0] and not wm.meta["implicit"]


def test_splits_shapes_and_ranges(ratings: Dataset, mf_world: WorldModel) -> None:
    wm = mf_world
    train, test = wm.users["train"], wm.users["test"]
    all_users = np.sort(ratings.interactions["user_id"].unique())
    assert not np.intersect1d(train, test).size
    assert np.array_equal(np.union1d(train, test), all_users)
    assert len(test) == 30 and np.array_equal(test, np.sort(test))  # 20 % of 150, sorted
    assert wm.items["item_id"].tolist() == ratings.items["item_id"].tolist()
    for split in ("train", "test"):
        rewards = wm.rewards[split]
        assert rewards.shape == (len(wm.users[split]), 120) and rewards.dtype == np.float32
        assert rewards.min() >= 0.0 and rewards.max() <= 5.0
    assert wm.item_embeddings.shape == (120, 16)
    assert np.allclose(np.linalg.norm(wm.item_embeddings, axis=1), 1.0, atol=1e-5)
    assert wm.uncertainty == {}  # one member: no ensemble variance
    assert 0.0 < wm.distance_threshold < 2.0
    dist = wm.distances("test")
    assert dist.shape == (120, 120)
    off_diagonal = dist[~np.eye(120, dtype=bool)]
    assert abs((off_diagonal < wm.distance_threshold).mean() - 0.005) < 0.004  # the quantile


def test_deterministic_for_a_seed(ratings: Dataset, mf_world: WorldModel) -> None:
    again = build_world_model(ratings, WorldModelConfig(model="mf", **FAST), progress=False)
    for split in ("train", "test"):
        assert np.array_equal(again.rewards[split], mf_world.rewards[split])
        assert np.array_equal(again.users[split], mf_world.users[split])
    assert np.array_equal(again.item_embeddings, mf_world.item_embeddings)
    assert again.distance_threshold == mf_world.distance_threshold
    other = build_world_model(ratings, WorldModelConfig(model="mf", seed=1, **FAST), False)
    assert not np.array_equal(other.users["test"], mf_world.users["test"])


def test_ensemble_uncertainty(ratings: Dataset) -> None:
    cfg = WorldModelConfig(model="mf", n_ensemble=2, **FAST)
    wm = build_world_model(ratings, cfg, progress=False)
    for split in ("train", "test"):
        var = wm.uncertainty[split]
        assert var.shape == wm.rewards[split].shape and var.dtype == np.float32
        assert var.min() >= 0.0 and var.max() > 1e-3
    members = wm.meta["metrics"]["members"]
    assert len(members) == 2 and members[0]["seed"] != members[1]["seed"]
    assert set(wm.meta["metrics"]["mean"]) == {"rmse", "mae"}


def test_save_load_round_trip(tmp_path: Path, ratings: Dataset) -> None:
    wm = build_world_model(ratings, WorldModelConfig(model="mf", n_ensemble=2, **FAST), False)
    wm.save(tmp_path / "world")
    back = WorldModel.load(tmp_path / "world")
    for split in ("train", "test"):
        assert np.array_equal(back.rewards[split], wm.rewards[split])
        assert np.array_equal(back.uncertainty[split], wm.uncertainty[split])
        assert np.array_equal(back.users[split], wm.users[split])
    assert np.array_equal(back.item_embeddings, wm.item_embeddings)
    assert back.distance_threshold == wm.distance_threshold
    assert back.meta == json.loads(json.dumps(wm.meta))
    assert back.items["item_id"].tolist() == wm.items["item_id"].tolist()
    assert np.array_equal(back.distances("train"), wm.distances("train"))


def test_implicit_histories() -> None:
    ds = implicit_dataset()
    cfg = WorldModelConfig(model="deepfm", **FAST)
    wm = build_world_model(ds, cfg, progress=False)
    metrics = wm.meta["metrics"]["mean"]
    assert wm.meta["implicit"] and metrics["auc"] > 0.7
    for split in ("train", "test"):
        assert wm.rewards[split].min() >= 0.0 and wm.rewards[split].max() <= 5.0
    assert set(wm.users["test"]) | set(wm.users["train"]) == set(ds.interactions["user_id"])
    # a user's favourite-genre items score above the others
    genre = ds.items["genres"].str[0].to_numpy()
    first = wm.users["train"][0]
    seen = ds.interactions.loc[ds.interactions["user_id"] == first, "item_id"]
    favourite = pd.Series(genre[seen]).mode()[0]
    row = wm.rewards["train"][0]
    assert row[genre == favourite].mean() > row[genre != favourite].mean() + 1.0


def test_implicit_keeps_the_datas_own_user_split() -> None:
    ds = implicit_dataset(n_users=40)
    users = np.sort(ds.interactions["user_id"].unique())
    ds.interactions["split"] = np.where(
        ds.interactions["user_id"].isin(users[:30]), "train", "test"
    )
    wm = build_world_model(ds, WorldModelConfig(model="mf", epochs=2), progress=False)
    assert np.array_equal(wm.users["train"], users[:30])
    assert np.array_equal(wm.users["test"], users[30:])


# -- make_world_model: the source ----------------------------------------------------------------


def test_billp_source_without_matrices_is_a_clear_error() -> None:
    with pytest.raises(DataError, match="lacks BiLLP's reward_train"):
        make_world_model(implicit_dataset(n_users=5), WorldModelConfig(source="billp"))


# -- pure pieces ---------------------------------------------------------------------------------


def test_auc_by_hand() -> None:
    # positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of 4 pairs ordered -> 0.75
    assert auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75
    assert auc(np.array([1.0, 1.0]), np.array([0, 1])) == 0.5  # ties count half


def test_reward_mappings() -> None:
    # logit -log 4 is the 1:4 prior's 20 % rate; under a 1:1 prior that is 50 %: reward 2.5;
    # odds 2:3 (p = 0.4) is the quit boundary, reward 2
    logits = np.array([-np.log(4.0), -np.log(4.0) + np.log(2 / 3), 50.0, -50.0])
    expected = [2.5, 2.0, 5.0, 0.0]
    assert np.allclose(to_reward(logits, implicit=True, negatives=4), expected, atol=1e-5)
    stars = np.array([-0.3, 2.5, 5.4])
    assert to_reward(stars, implicit=False, negatives=4).tolist() == [0.0, 2.5, 5.0]


# -- BiLLP's two worlds: calibration to recorded runs --------------------------------------------


def _billp_run(folder: Path, name: str, users: list[int], rewards, rng) -> Path:
    """A BiLLP trajs_agent file: each user gets 2-6 continuing books and a quit step."""
    data = {}
    for k, user in enumerate(users):  # test-data generation only
        books = rng.choice(150, 7, replace=False)
        lines = []
        steps = int(rng.integers(2, 7))
        for n in range(1, steps + 1):
            outcome = (
                "Episode finished, User Stop, reward=-1000.000"
                if n == steps
                else f"Episode continue, reward={rewards(rng)}"
            )
            lines += [f"Thought {n}: x", f"Action {n}: recommend[Book {books[n]}]",
                      f"Observation {n}: {outcome}"]  # fmt: skip
        history = [f"Book {b}" for b in rng.choice(150, 5, replace=False)]
        data[str(k)] = {
            "userid": int(user),
            "prompt": "",
            "traj_by_line": [f"The user's viewing history is {history!r}, please", *lines],
        }
    path = folder / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_two_calibrated_worlds_on_standard_test_users(tmp_path: Path) -> None:
    from rlrec.interactive.env import VectorRecEnv
    from rlrec.interactive.world.calibration import CalibrationConfig
    from rlrec.interactive.world.worldmodel import standard_users
    from rlrec.runs import create_run

    ds = implicit_dataset()
    ids = np.sort(ds.interactions["user_id"].unique())
    test_ids = standard_users(ids, 20)
    rng = np.random.default_rng(3)
    train_run = _billp_run(
        tmp_path, "amazon_train_0_9_toy_0.5_2024-01-01-00-00-00.json",
        [*np.setdiff1d(ids, test_ids)[:20], 99_999], lambda r: round(r.uniform(2, 4.5), 3), rng,
    )  # fmt: skip
    test_run = _billp_run(
        tmp_path, "amazon_test_0_9_toy_0.5_2024-01-01-00-00-00.json",
        list(test_ids), lambda r: int(r.choice([2, 4, 5, 5, 5])), rng,
    )  # fmt: skip
    cfg = WorldModelConfig(
        model="mf", **FAST, test_users=20,
        calibration={
            "train": CalibrationConfig(trajectories=str(train_run)),
            "test": CalibrationConfig(trajectories=str(test_run), scale="integer"),
        },
    )  # fmt: skip
    run = create_run(tmp_path / "runs", "two-worlds", cfg, seed=0)
    wm = make_world_model(ds, cfg, progress=False, run=run)

    assert np.array_equal(wm.users["test"], np.sort(test_ids))  # BiLLP's standard users
    assert not np.intersect1d(wm.users["train"], wm.users["test"]).size
    test_rewards = np.asarray(wm.rewards["test"])
    assert set(np.unique(test_rewards)) <= {1.0, 2.0, 3.0, 4.0, 5.0}  # integer ratings
    train_rewards = np.asarray(wm.rewards["train"])
    assert len(np.unique(train_rewards)) > 100 and train_rewards.min() >= 0.0
    report = wm.meta["calibration"]["test"]["report"]
    assert report["reward"]["simulated_mean"] == pytest.approx(
        report["reward"]["recorded_mean"], abs=0.02
    )  # the levels' shares are fitted on exactly these pairs
    assert wm.meta["calibration"]["train"]["report"]["users"]["own"] == 20
    for split in ("train", "test"):
        assert wm.threshold(split) == wm.thresholds[split] != wm.distance_threshold
        assert VectorRecEnv.from_world(wm, split).threshold == np.float32(wm.threshold(split))
        assert (run.dir / f"calibration-{split}" / "report.md").is_file()

    wm.save(tmp_path / "saved")
    assert WorldModel.load(tmp_path / "saved").thresholds == wm.thresholds
    finished = {s: run.manifest()["stages"][f"calibration-{s}"]["finished"] for s in SPLITS}
    again = make_world_model(ds, cfg, progress=False, run=run)  # the calibrations are cached
    assert {s: run.manifest()["stages"][f"calibration-{s}"]["finished"] for s in SPLITS} == finished
    np.testing.assert_array_equal(np.asarray(again.rewards["test"]), test_rewards)


def test_billp_matrices_ignore_the_calibration(tmp_path: Path) -> None:
    from rlrec.interactive.world.calibration import CalibrationConfig

    ds = dataclasses.replace(implicit_dataset(n_users=6), name="billp-amazon")
    n_items = len(ds.items)
    rng = np.random.default_rng(0)
    ds.arrays.update(
        reward_train=rng.uniform(0, 5, (4, n_items)).astype(np.float32),
        reward_test=rng.uniform(0, 5, (3, n_items)).astype(np.float32),
        distance_train=rng.uniform(0, 30, (n_items, n_items)).astype(np.float32),
    )
    cfg = WorldModelConfig(
        calibration={"test": CalibrationConfig(trajectories=str(tmp_path / "absent.json"))}
    )
    wm = make_world_model(ds, cfg)
    assert wm.meta["source"] == "billp" and not wm.thresholds
    np.testing.assert_array_equal(wm.rewards["test"], ds.arrays["reward_test"])
