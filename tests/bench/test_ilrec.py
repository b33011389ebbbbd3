"""`rlrec bench ilrec`: its world has the long episodes it promises, and its figures are
consistent with one another (no timing is asserted)."""

from __future__ import annotations

import numpy as np
import pytest

from rlrec.bench.ilrec import DEMO_STEPS, DEMO_USERS, bench_demos, bench_ilrec, bench_world


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on a machine shared with other work, two threads wait on each other
    (what `runtime.ThreadGovernor` avoids in the bench itself)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def world():
    return bench_world(n_users=600, n_items=3_000, seed=0)


def test_the_untrained_policy_lasts_10_to_20_steps(world) -> None:
    from rlrec.bench.ilrec import BENCH_QUIT
    from rlrec.interactive.learners.ilrec import ILRec, ILRecConfig

    learner = ILRec(world, ILRecConfig(), 0, bench_demos(world), BENCH_QUIT)
    lengths = [learner.step()["length"] for _ in range(4)]  # 4 x 64 episodes
    assert 10 <= np.mean(lengths) <= 20


def test_demonstrations_are_the_experts_first_steps(world) -> None:
    demos = bench_demos(world)
    per_episode = np.bincount(demos.episodes - demos.episodes.min())
    assert len(per_episode) == DEMO_USERS
    assert per_episode.max() == DEMO_STEPS
    assert len(demos) <= DEMO_USERS * DEMO_STEPS
    first = np.r_[True, demos.episodes[1:] != demos.episodes[:-1]]
    assert (demos.window_items[first] == -1).all()  # each starts at its episode's first step


def test_bench_reports_every_schedule() -> None:
    out = bench_ilrec(
        n_users=300, n_items=1_000, episodes=128, warmup=64, requests=20, parity_episodes=16
    )
    training = out["training"]
    assert set(training) == {"default", "release", "parity"}
    expected_samples = {"default": 64, "release": 16, "parity": 16}  # per episode
    for name, row in training.items():
        assert row["episodes"] >= (16 if name == "parity" else 128)
        assert row["update_samples_per_episode"] == expected_samples[name]
        assert row["env_steps_per_s"] == pytest.approx(
            row["episodes_per_s"] * row["mean_episode_length"], rel=0.01
        )
        assert row["paper_run_minutes"] == pytest.approx(  # rounded to 0.1 minute
            100_000 / row["episodes_per_s"] / 60, rel=0.01, abs=0.06
        )
    assert all(1 <= row["mean_threads"] <= 2 for row in training.values())
    for path in ("network", "inference"):
        latency = out["serving"][path]
        assert latency["requests"] == 20 and 0 < latency["p50_ms"] <= latency["p99_ms"]
        assert latency["threads"] == 1
    assert out["setup"]["demo_transitions"] <= DEMO_USERS * DEMO_STEPS
