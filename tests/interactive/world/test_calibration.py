"""Calibrating a learned world to a recorded agent run (`rlrec.interactive.world.calibration`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rlrec.interactive.world.calibration import (
    CalibrationConfig,
    Recorded,
    apply_link,
    base_scores,
    calibrate_split,
    fit_affine,
    fit_cuts,
    fit_distance_threshold,
    fit_low_reward,
    format_report,
    load_recorded,
    replay_lengths,
    rule_fires,
)
from rlrec.interactive.world.worldmodel import WorldModel

# -- the fitted parameters, on planted worlds ----------------------------------------------------


def test_affine_link_recovers_planted_scale_and_shift() -> None:
    rng = np.random.default_rng(0)
    s = rng.normal(size=500)
    a, b = fit_affine(s, 0.7 * s + 3.1)
    assert a == pytest.approx(0.7) and b == pytest.approx(3.1)
    # the fit matches distributions, not pairs: shuffling the targets changes nothing
    assert fit_affine(s, rng.permutation(0.7 * s + 3.1)) == pytest.approx((a, b))


def test_ordinal_cuts_recover_planted_cuts() -> None:
    rng = np.random.default_rng(1)
    s = rng.normal(size=20_000)
    planted = np.array([-1.6, -0.9, 0.1, 0.8])
    ratings = 1 + np.searchsorted(planted, s, side="right")
    cuts = fit_cuts(s, ratings.astype(float), (1, 5))
    assert np.abs(cuts - planted).max() < 0.02
    link = {"scale": "integer", "levels": [1, 5], "cuts": cuts.tolist()}
    np.testing.assert_array_equal(apply_link(s, link), ratings)  # every pair on its level


def test_cuts_of_a_level_nobody_gave_leave_it_empty() -> None:
    s = np.array([0.0, 1.0, 2.0, 3.0])
    cuts = fit_cuts(s, np.array([3.0, 3.0, 4.0, 5.0]), (1, 5))
    link = {"scale": "integer", "levels": [1, 5], "cuts": cuts.tolist()}
    np.testing.assert_array_equal(apply_link(s, link), [3, 3, 4, 5])


def test_low_reward_line_is_the_configured_one_unless_the_run_contradicts_it() -> None:
    step = np.array([1, 2, 3, 1, 2])
    reward = np.array([0.5, 2.4, np.nan, 1.0, 2.1])  # step-1 rewards are never checked
    assert fit_low_reward(reward, step, 2.0) == 2.0
    assert fit_low_reward(np.array([3.0, 1.7, np.nan]), np.array([1, 2, 3]), 2.0) == 1.7


def test_distance_threshold_fires_on_as_many_steps_as_quits() -> None:
    nearest = np.array([np.inf, 0.9, 0.2, 0.5, np.inf, 0.7, 0.1])
    checked = np.isfinite(nearest)
    already = np.array([False, False, False, False, False, False, True])  # a low reward
    t = fit_distance_threshold(nearest, already, checked, n_quits=3)
    assert t == pytest.approx(0.6)  # 0.1 (already) + 0.2 + 0.5 fire; 0.7 and 0.9 do not
    fires = rule_fires(already, nearest, np.zeros(7, bool), t, checked)
    assert fires.sum() == 3
    assert fit_distance_threshold(nearest, already, checked, n_quits=1) == 0.0


def test_replay_stops_at_the_first_firing_step() -> None:
    traj = np.array([0, 0, 0, 1, 1, 2])
    step = np.array([1, 2, 3, 1, 2, 1])
    fires = np.array([False, True, True, False, False, False])
    np.testing.assert_array_equal(replay_lengths(traj, step, fires, 3), [2, 2, 1])


def _planted_run(link, threshold: float, n_users: int = 80, seed: int = 0):
    """A planted world (scores, embeddings) and an agent's run in it under BiLLP's LLM rule:
    step 1 unchecked, quit on reward < 2 or distance < threshold to the last 4 items."""
    rng = np.random.default_rng(seed)
    n_items = 400
    scores = rng.normal(size=(n_users, n_items))
    emb = rng.normal(size=(n_items, 6))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    world = apply_link(scores, link)
    cols = {k: [] for k in ("traj", "step", "col", "reward", "quit")}
    for u in range(n_users):  # test-data generation: an agent that prefers high scores
        p = np.exp(2.0 * scores[u])
        past: list[int] = []
        for t in range(1, 51):
            a = int(rng.choice(n_items, p=p / p.sum()))
            near = min((np.linalg.norm(emb[a] - emb[h]) for h in past[-4:]), default=np.inf)
            quit_ = t >= 2 and (world[u, a] < 2.0 or near < threshold or a in past[-4:])
            for key, v in zip(
                cols, (u, t, a, np.nan if quit_ else world[u, a], quit_), strict=True
            ):
                cols[key].append(v)
            past.append(a)
            if quit_:
                break
    rec = Recorded(
        *(np.asarray(cols[k]) for k in cols), row=np.arange(n_users), users={"own": n_users}
    )
    base = 5.0 / (1.0 + np.exp(-scores))  # the learned world's 0-5 reward: 5 sigma(score)
    return rec, base, emb, world


def test_calibration_recovers_a_planted_continuous_world() -> None:
    planted = {"scale": "continuous", "a": 0.6, "b": 2.5}
    rec, base, emb, _ = _planted_run(planted, threshold=0.45)
    out = calibrate_split(rec, base, emb, True, CalibrationConfig(trajectories="x"))
    fit, report = out["fit"], out["report"]
    assert fit["link"]["a"] == pytest.approx(0.6, abs=1e-3)
    assert fit["link"]["b"] == pytest.approx(2.5, abs=1e-3)
    assert fit["low_reward"] == 2.0
    # the threshold lies between the distances that ended episodes and those that did not
    assert 0.3 < fit["distance_threshold"] < 0.6
    assert report["length"]["replay_quits_at_recorded_quit"] == pytest.approx(
        float(np.mean(np.bincount(rec.traj[rec.quit], minlength=80) > 0))
    )
    assert report["length"]["replay_mean"] == pytest.approx(report["length"]["recorded_mean"])
    assert report["reward"]["simulated_mean"] == pytest.approx(report["reward"]["recorded_mean"])
    assert "| share below 2 |" in format_report("train", report)


def test_calibration_recovers_a_planted_integer_world() -> None:
    planted = {"scale": "integer", "levels": [1, 5], "cuts": [-0.5, 0.3, 0.9, 1.3]}
    rec, base, emb, world = _planted_run(planted, threshold=0.3, n_users=150, seed=2)
    cfg = CalibrationConfig(trajectories="x", scale="integer")
    fit = calibrate_split(rec, base, emb, True, cfg)["fit"]
    # each cut lies between the recorded scores on either side of the planted one
    assert np.abs(np.asarray(fit["link"]["cuts"]) - planted["cuts"]).max() < 0.1
    simulated = apply_link(base_scores(base, True), fit["link"])
    agree = simulated[rec.row[rec.traj], rec.col] == world[rec.row[rec.traj], rec.col]
    assert agree.mean() > 0.99  # the world's ratings, not just their distribution


def test_base_scores_invert_the_implicit_reward_mapping() -> None:
    s = np.array([-3.0, 0.0, 2.5])
    np.testing.assert_allclose(base_scores(5.0 / (1.0 + np.exp(-s)), True), s, atol=1e-9)
    np.testing.assert_array_equal(base_scores(np.array([1.0, 4.0]), False), [1.0, 4.0])


# -- reading a BiLLP run -------------------------------------------------------------------------


EXAMPLE = "Question: The user's viewing history is ['A'], please recommend item.\n(END)\n"


def write_billp_run(folder: Path, records: dict[int, list[str]], history: list[str]) -> Path:
    """A BiLLP trajs_agent file: user -> lines after the history line; the prompt holds a
    few-shot example with its own history, as BiLLP's does."""
    data = {
        str(k): {
            "userid": user,
            "prompt": EXAMPLE,
            "traj_by_line": [
                f"The user's viewing history is {history!r}, please recommend item for this user.",
                *lines,
            ],
        }
        for k, (user, lines) in enumerate(records.items())
    }
    path = folder / "amazon_test_0_2_toy_0.5_2024-01-01-00-00-00.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _steps(*steps: tuple[str, str]) -> list[str]:
    lines = []
    for n, (title, outcome) in enumerate(steps, start=1):
        lines += [
            f"Thought {n}: x",
            f"Action {n}: recommend[{title}]",
            f"Observation {n}: {outcome}",
        ]
    return lines


def test_load_recorded_codes_items_users_and_the_hidden_quit_reward(tmp_path: Path) -> None:
    from rlrec.data.dataset import Dataset, interactions_frame

    items = pd.DataFrame({"item_id": [10, 11, 12, 13], "title": ["A", "B", "C", "D"]})
    inter = interactions_frame([1, 1, 2, 2], [10, 11, 12, 13], [np.nan] * 4, [0, 1, 0, 1], "toy")
    ds = Dataset(name="toy", interactions=inter, items=items)
    world = WorldModel(
        rewards={"train": np.ones((2, 4), np.float32), "test": np.ones((1, 4), np.float32)},
        users={"train": np.array([1, 2]), "test": np.array([3])},
        items=items,
        distance_threshold=0.1,
        item_embeddings=np.eye(4, dtype=np.float32),
    )
    records = {
        2: _steps(("A", "Episode continue, reward=4"), ("Zzz", "Episode continue, reward=3"),
                  ("B", "Episode finished, User Stop, reward=-1000.000")),
        99: _steps(("D", "Episode continue, reward=5")),
    }  # fmt: skip
    path = write_billp_run(tmp_path, records, history=["C", "D"])
    rec = load_recorded(path, world, ds, "train")
    np.testing.assert_array_equal(rec.col, [0, -1, 1, 3])
    np.testing.assert_array_equal(rec.quit, [False, False, True, False])
    assert np.isnan(rec.reward[2]) and rec.reward[0] == 4.0
    # user 2 has its own row; user 99 shares history items C, D with user 2 (row 1), not the
    # few-shot example's A with user 1
    np.testing.assert_array_equal(rec.row, [1, 1])
    assert rec.users == {"own": 1, "history": 1, "mean_user": 0}
    np.testing.assert_array_equal(rec.lengths, [3, 1])


def test_the_real_billp_test_run_reads_as_the_paper_describes(billp_data: Path) -> None:
    """BiLLP's GPT-3.5 Amazon test run: ~9.3 steps, integer ratings averaging ~4.45."""
    from rlrec.data.billp import load_billp

    ds = load_billp(billp_data / "amazon", "amazon")
    n = len(ds.items)
    world = WorldModel(
        rewards={s: np.zeros((1, n), np.float32) for s in ("train", "test")},
        users={"train": np.array([-1]), "test": np.array([-2])},
        items=ds.items.sort_values("item_id").reset_index(drop=True),
        distance_threshold=0.1,
        item_embeddings=np.eye(n, 2, dtype=np.float32),
    )
    path = next((billp_data / "trajs").glob("amazon_test_*.json"))
    rec = load_recorded(path, world, ds, "test")
    observed = rec.reward[np.isfinite(rec.reward)]
    assert len(rec.row) == 100 and rec.lengths.mean() == pytest.approx(9.30, abs=0.01)
    assert observed.mean() == pytest.approx(4.45, abs=0.01)
    assert set(np.unique(observed)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert fit_low_reward(rec.reward, rec.step, 2.0) == 2.0
    assert (rec.col < 0).mean() < 0.05  # executed titles are catalogue titles


def test_the_study_shows_the_recorded_evaluation_run_as_recorded() -> None:
    from rlrec.interactive.study import recorded_run_row
    from rlrec.interactive.world.synthetic_world import synthetic_world

    rec, base, emb, _ = _planted_run({"scale": "continuous", "a": 0.6, "b": 2.5}, 0.45)
    world = synthetic_world(n_users=20, n_items=30, seed=0)
    assert recorded_run_row(world) is None  # no calibrated evaluation world, no row
    world.meta["calibration"] = {
        "test": calibrate_split(rec, base, emb, True, CalibrationConfig(trajectories="x"))
    }
    row = recorded_run_row(world)
    n = len(np.unique(rec.traj))
    assert row["method"].startswith(f"LLM expert: its recorded evaluation run ({n} users")
    assert row["R_traj"]["mean"] == pytest.approx(np.nansum(rec.reward) / n)  # its own rewards
    assert row["Len"]["mean"] == pytest.approx(len(rec.traj) / n)
    assert row["R_each"]["mean"] == pytest.approx(np.nanmean(rec.reward))
