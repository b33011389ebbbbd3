"""`rlrec bench env`: environment steps per second, single gym env vs the vectorised env.

Setup (seeded): a reward matrix uniform in [0, 5.3] (the range of BiLLP's matrices) of
`n_users` x `n_items`, a dense float32 distance matrix between random Gaussian item embeddings,
and a distance threshold at a low quantile of the off-diagonal distances, with the default quit
rule (`QuitConfig()`: reward < 2, window 4, 100 turns). Amazon-Book's size is the default
(3,109 users x 13,864 items; the distance matrix is 0.77 GB).

Measured, one after the other in one process, each for about `seconds_per_point`:
- `single`: `RecEnv` (the gymnasium env), random actions, reset after every episode;
- `vectorised`: `VectorRecEnv` with autoreset, for each batch size B.
Actions are drawn before timing (a block reused cyclically), so only the environment is timed.
A step is one user-step: a batch step of B users counts B steps. `mean_episode_length` is over
the episodes finished during the measurement (the terminal step counted).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import gymnasium
import numpy as np
from tqdm import tqdm

from rlrec.bench import machine_info
from rlrec.interactive.env import QuitConfig, RecEnv, VectorRecEnv
from rlrec.interactive.world.worldmodel import pairwise_euclidean

REWARD_MAX = 5.3
EMBEDDING_DIM = 32
ACTION_BLOCK = 256  # batch steps of pre-drawn actions, reused cyclically


def bench_env(
    n_items: int = 13_864,
    n_users: int = 3_109,
    batch_sizes: Sequence[int] = (1, 4, 16, 64, 256, 1024),
    seconds_per_point: float = 1.0,
    seed: int = 0,
    threshold_quantile: float = 0.01,
    progress: bool = False,
) -> dict[str, Any]:
    """Measure environment steps/s; returns a JSON-ready dict (see the module docstring)."""
    rng = np.random.default_rng(seed)
    quit_cfg = QuitConfig()
    bar = tqdm(total=1 + len(batch_sizes), desc="env bench: setup", disable=not progress)
    start = time.perf_counter()
    rewards = rng.uniform(0.0, REWARD_MAX, (n_users, n_items)).astype(np.float32)
    distances = pairwise_euclidean(rng.normal(size=(n_items, EMBEDDING_DIM)))
    threshold = _low_quantile(distances, threshold_quantile, rng)
    setup_seconds = time.perf_counter() - start

    bar.set_description("env bench: single")
    single = _bench_single(
        RecEnv(rewards, distances, threshold, quit_cfg), seconds_per_point, rng, seed
    )
    bar.update()
    vectorised = []
    for batch in batch_sizes:
        bar.set_description(f"env bench: vectorised B={batch}")
        env = VectorRecEnv(
            rewards, distances, threshold, quit_cfg, autoreset=True, rng=np.random.default_rng(seed)
        )
        vectorised.append(_bench_vector(env, batch, seconds_per_point, rng))
        bar.update()
    bar.close()

    largest = max(vectorised, key=lambda p: p["batch_size"]) if vectorised else None
    return {
        "benchmark": "env",
        "setup": {
            "n_users": n_users,
            "n_items": n_items,
            "reward_range": [0.0, REWARD_MAX],
            "embedding_dim": EMBEDDING_DIM,
            "threshold": threshold,
            "threshold_quantile": threshold_quantile,
            "quit": quit_cfg.model_dump(),
            "seconds_per_point": seconds_per_point,
            "seed": seed,
            "setup_seconds": setup_seconds,
        },
        "machine": {**machine_info(), "gymnasium": gymnasium.__version__},
        "single": single,
        "vectorised": vectorised,
        "speedup": None
        if largest is None or single["steps_per_s"] <= 0
        else {
            "batch_size": largest["batch_size"],
            "vectorised_over_single": largest["steps_per_s"] / single["steps_per_s"],
        },
    }


def _low_quantile(distances: np.ndarray, q: float, rng: np.random.Generator) -> float:
    """The q-quantile of off-diagonal distances, estimated on up to 256 random rows."""
    n = len(distances)
    rows = rng.choice(n, size=min(n, 256), replace=False)
    sample = distances[rows]  # [r, I]
    off_diagonal = np.ones(sample.shape, dtype=bool)
    off_diagonal[np.arange(len(rows)), rows] = False
    values = sample[off_diagonal]
    return float(np.quantile(values, q)) if values.size else 0.0


def _point(steps: int, episodes: int, unfinished_steps: int, seconds: float) -> dict[str, Any]:
    return {
        "steps": steps,
        "seconds": seconds,
        "steps_per_s": steps / seconds if seconds > 0 else 0.0,
        "episodes": episodes,
        "mean_episode_length": (steps - unfinished_steps) / episodes if episodes else None,
    }


def _bench_single(
    env: RecEnv, seconds: float, rng: np.random.Generator, seed: int
) -> dict[str, Any]:
    actions = rng.integers(0, env.n_items, ACTION_BLOCK * 16).tolist()
    env.reset(seed=seed)
    steps = episodes = 0
    start = time.perf_counter()
    while True:
        for a in actions:
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                episodes += 1
                env.reset()
        steps += len(actions)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    return _point(steps, episodes, 0 if env.done else env.turn, elapsed)


def _bench_vector(
    env: VectorRecEnv, batch: int, seconds: float, rng: np.random.Generator
) -> dict[str, Any]:
    actions = rng.integers(0, env.n_items, (ACTION_BLOCK, batch))
    env.reset(env.sample_users(batch))
    for a in actions[:8]:  # warm-up
        env.step(a)
    env.reset(env.sample_users(batch))
    batch_steps = episodes = 0
    chunk = max(1, min(ACTION_BLOCK, 4096 // batch))
    start = time.perf_counter()
    while True:
        for k in range(batch_steps % ACTION_BLOCK, batch_steps % ACTION_BLOCK + chunk):
            _, done, _ = env.step(actions[k % ACTION_BLOCK])
            episodes += int(np.count_nonzero(done))
        batch_steps += chunk
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    point = _point(batch_steps * batch, episodes, int(env.turn.sum()), elapsed)
    return {
        "batch_size": batch,
        **point,
        "us_per_batch_step": 1e6 * elapsed / batch_steps,
    }
