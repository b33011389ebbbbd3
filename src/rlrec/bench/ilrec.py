"""`rlrec bench ilrec`: IL-Rec's training throughput and its policy's serving latency.

Setup (seeded): a `synthetic_world` of Amazon-Book's size (3,109 users x 13,864 items by
default; 2,060 train users, the test split of 1,049), demonstrations of a scripted expert (the
best item by the true train reward, never one of its window) on 100 train users, and IL-Rec with
its default config (the paper mode, discriminator and reweighting on schedule).

Measured, after `warmup` episodes:
- training: `episodes` more episodes of `ILRec.step()` (rollouts, replay, discriminator phases,
  critic and policy updates, everything), timed as a whole: episodes/s, environment steps/s,
  updates/s (a critic step plus a policy step counts as two updates);
- serving: `requests` single-user requests (batch 1, CPU) of the trained policy: the state
  tracker, the actor head over all items and the sampled action, timed one by one (p50, p99,
  mean, in milliseconds), through `TorchPolicy.act` as the evaluation and a server call it.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from rlrec.bench import machine_info
from rlrec.interactive.evaluate import Observation
from rlrec.interactive.experience.offline_data import scripted_demos
from rlrec.interactive.experience.rollout import TorchPolicy
from rlrec.interactive.learners.ilrec import ILRec, ILRecConfig
from rlrec.interactive.world.synthetic_world import synthetic_world


def bench_ilrec(
    n_users: int = 3_109,
    n_items: int = 13_864,
    episodes: int = 2_000,
    warmup: int = 256,
    requests: int = 1_000,
    progress: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    world = synthetic_world(
        n_users, n_items, rank=8, quality=1.0, test_fraction=1_049 / 3_109, seed=seed
    )
    world.distances("train")  # computed once, outside the timing
    demos = scripted_demos(world, np.arange(100), seed=seed)
    cfg = ILRecConfig(train_episodes=warmup + episodes)
    learner = ILRec(world, cfg, seed, demos)

    while learner.counters["episodes"] < warmup:
        learner.step()
    done, steps, updates = 0, 0, 0
    bar = tqdm(total=episodes, desc="ilrec train", unit="ep", disable=not progress)
    start = time.perf_counter()
    while done < episodes:
        added = learner.buffer.added
        stats = learner.step()
        done += stats["episodes"]
        steps += learner.buffer.added - added
        updates += 2 * cfg.updates_per_iteration
        bar.update(stats["episodes"])
    seconds = time.perf_counter() - start
    bar.close()

    latency = policy_latency(learner.policy(), world.n_items, cfg.window, requests, seed)
    return {
        "benchmark": "ilrec",
        "setup": {
            "users": n_users,
            "items": n_items,
            "train_users": len(world.users["train"]),
            "demo_transitions": len(demos),
            "config": {
                k: getattr(cfg, k)
                for k in ("episodes_per_iteration", "updates_per_iteration", "batch_size", "mode")
            },
            "warmup_episodes": warmup,
        },
        "training": {
            "episodes": done,
            "seconds": round(seconds, 3),
            "episodes_per_s": round(done / seconds, 1),
            "env_steps_per_s": round(steps / seconds, 1),
            "updates_per_s": round(updates / seconds, 1),
            "mean_episode_length": round(steps / done, 2),
        },
        "serving": latency,
        "machine": {**machine_info(), "torch_threads": torch.get_num_threads()},
    }


def policy_latency(
    policy: TorchPolicy, n_items: int, window: int = 4, requests: int = 1_000, seed: int = 0
) -> dict[str, Any]:
    """Per-request latency (batch 1, CPU) of `policy` for one user with a full history window:
    p50 / p99 / mean in milliseconds over `requests` calls, after 10 warm-up calls."""
    rng = np.random.default_rng(seed)
    recommended = np.zeros((1, n_items), dtype=bool)
    times = np.empty(requests)
    for i in range(requests + 10):
        obs = Observation(
            users=np.array([0]),
            window_items=rng.integers(0, n_items, (1, window)),
            window_rewards=rng.uniform(0, 5, (1, window)).astype(np.float32),
            turn=np.array([window]),
            recommended=recommended,
        )
        start = time.perf_counter()
        policy.act(obs, rng)
        if i >= 10:  # the first calls warm caches up
            times[i - 10] = time.perf_counter() - start
    ms = times * 1e3
    return {
        "requests": requests,
        "batch": 1,
        "device": "cpu",
        "p50_ms": round(float(np.percentile(ms, 50)), 4),
        "p99_ms": round(float(np.percentile(ms, 99)), 4),
        "mean_ms": round(float(ms.mean()), 4),
    }
