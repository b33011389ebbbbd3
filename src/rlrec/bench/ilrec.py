"""`rlrec bench ilrec`: IL-Rec's training throughput at Amazon-Book's size, per schedule, and its
policy's batch-1 latency.

The world (seeded; `bench_world`): a `synthetic_world` of Amazon-Book's size (3,109 users x
13,864 items; 2,060 train users, the test split of 1,049) whose users leave on an item worth
nothing to them (reward 0: 8 % of the matrix), a repeat, or an item within the 0.25 % quantile
of item-item distances of one of the last four: under the untrained policy an episode lasts
10-20 steps (the mean is reported), as BiLLP's Amazon evaluation (about 10) and ML-100K's world
(20-40) do, not the 2-3 steps of a world where a third of the items end the episode.
Demonstrations: a scripted expert (the best item by the true reward, never one of its window)
on 100 train users, their first `DEMO_STEPS` steps each: 400 transitions, the size of BiLLP's
released Amazon run (348).

Schedules, each timed on a fresh learner (same seed) after `warmup` episodes, one after the
other in one process (ratios between them are meaningful; absolute figures depend on the load):
- `default`: rlrec's configuration (16 critic + policy steps of 128 per 64 episodes, 32 + 32
  update samples per episode);
- `release`: the release's samples per episode (8 + 8) in rlrec's batches: 4 steps of 128 per
  64 episodes;
- `parity`: the release's loop (`mode: parity`): one episode, one critic and one policy step of
  8 per iteration.
Each reports episodes/s, environment steps/s, update samples/s (critic plus policy samples) and
the wall time of the paper's 100,000 episodes extrapolated from them. Everything a training step
does is inside the timing: rollouts, replay, discriminator phases, reweighting, updates.

Serving: `requests` single-user requests (batch 1, one thread) of the trained default policy,
timed one by one (p50, p99, mean, ms), through `TorchPolicy.act` (the network) and through the
inference path of the exported artefact (`learners.inference.FastPolicy`, the same
actions).

Threads: before every training step a `runtime.ThreadGovernor` sets torch's threads to the
cores the machine's other processes leave idle (at most `RLREC_THREADS`); the mean is reported.
`neighbour=True` repeats the default schedule with a CPU-bound process running beside it (one
busy core; the machine's other users are not controlled), with the governor and with the
threads fixed at `RLREC_THREADS` (an eighth of the episodes: with two threads it crawls), and
reports the share of the first measurement kept.
"""

from __future__ import annotations

import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from rlrec.bench import machine_info
from rlrec.export import scoring_network
from rlrec.interactive.env import QuitConfig
from rlrec.interactive.evaluate import Observation, Policy
from rlrec.interactive.experience.offline_data import scripted_demos
from rlrec.interactive.experience.transitions import Transitions
from rlrec.interactive.learners.ilrec import ILRec, ILRecConfig
from rlrec.interactive.learners.inference import FastPolicy, fast_scores
from rlrec.interactive.world.synthetic_world import synthetic_world
from rlrec.interactive.world.worldmodel import WorldModel
from rlrec.runtime import ThreadGovernor, set_threads

PAPER_EPISODES = 100_000  # the paper's training run
DEMO_USERS, DEMO_STEPS = 100, 4
# users leave on reward 0 (below 0.01), a repeat, or a near-duplicate of the last four items
BENCH_QUIT = QuitConfig(low_reward=0.01)
DISTANCE_QUANTILE = 0.0025

SCHEDULE_KEYS = ("mode", "episodes_per_iteration", "updates_per_iteration", "batch_size")
SCHEDULES: dict[str, dict[str, Any]] = {
    "default": {},
    "release": {"updates_per_iteration": 4},
    "parity": {"mode": "parity"},
}


def bench_world(n_users: int = 3_109, n_items: int = 13_864, seed: int = 0) -> WorldModel:
    """The bench's world model (module docstring); its distance matrix is computed here."""
    world = synthetic_world(
        n_users,
        n_items,
        rank=8,
        quality=1.0,
        test_fraction=1_049 / 3_109,
        distance_quantile=DISTANCE_QUANTILE,
        seed=seed,
    )
    world.distances("train")  # computed once, outside every timing
    return world


def bench_demos(world: WorldModel, seed: int = 0) -> Transitions:
    """The scripted expert's first `DEMO_STEPS` steps on `DEMO_USERS` train users."""
    demos = scripted_demos(world, np.arange(min(DEMO_USERS, len(world.users["train"]))), seed=seed)
    starts = np.r_[0, np.flatnonzero(np.diff(demos.episodes)) + 1]
    step = np.arange(len(demos)) - np.repeat(starts, np.diff(np.r_[starts, len(demos)]))
    return demos.take(np.flatnonzero(step < DEMO_STEPS))


def bench_ilrec(
    n_users: int = 3_109,
    n_items: int = 13_864,
    episodes: int = 2_048,
    warmup: int = 256,
    requests: int = 1_000,
    schedules: tuple[str, ...] = ("default", "release", "parity"),
    parity_episodes: int = 512,
    neighbour: bool = False,
    progress: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Measure the schedules and the policy latency; a JSON-ready dict (module docstring)."""
    world = bench_world(n_users, n_items, seed)
    demos = bench_demos(world, seed)
    training, trained = {}, None
    governor = ThreadGovernor()
    for name in schedules:
        cfg = ILRecConfig(**SCHEDULES[name])
        n = parity_episodes if cfg.mode == "parity" else episodes
        learner = ILRec(world, cfg, seed, demos, BENCH_QUIT)
        training[name] = train_throughput(learner, n, warmup, progress, f"ilrec {name}", governor)
        if name == "default":
            trained = learner
    out: dict[str, Any] = {
        "benchmark": "ilrec",
        "setup": {
            "users": n_users,
            "items": n_items,
            "train_users": len(world.users["train"]),
            "demo_transitions": len(demos),
            "quit": BENCH_QUIT.model_dump(),
            "distance_quantile": DISTANCE_QUANTILE,
            "warmup_episodes": warmup,
            "schedules": {
                name: {k: getattr(ILRecConfig(**SCHEDULES[name]), k) for k in SCHEDULE_KEYS}
                for name in schedules
            },
        },
        "training": training,
    }
    if neighbour and "default" in schedules:  # governed threads, then fixed threads
        out["busy_neighbour"] = {}
        for policy, gov in (("governed", ThreadGovernor()), ("fixed", None)):
            learner = ILRec(world, ILRecConfig(), seed, demos, BENCH_QUIT)
            set_threads(governor.max_threads)
            n = episodes if gov else max(64, episodes // 8)  # fixed threads crawl (30x here)
            with busy_neighbour():
                row = train_throughput(learner, n, warmup, progress, f"busy {policy}", gov)
            kept = row["episodes_per_s"] / training["default"]["episodes_per_s"]
            out["busy_neighbour"][policy] = {**row, "kept_of_idle": round(kept, 3)}
        set_threads(governor.max_threads)  # what the next measurement starts from
    if trained is not None and requests:
        net, head, _ = scoring_network(trained)
        policies = {
            "network": trained.policy(),
            "inference": FastPolicy("il-rec", fast_scores(net, head)),
        }
        set_threads(1)  # batch 1 on one thread, as the figure is specified
        out["serving"] = {
            path: {
                **policy_latency(p, world.n_items, trained.cfg.window, requests, seed),
                "threads": 1,
            }
            for path, p in policies.items()
        }
        set_threads(governor.max_threads)
    out["machine"] = {**machine_info(), "torch_threads": torch.get_num_threads()}
    return out


def train_throughput(
    learner: ILRec,
    episodes: int,
    warmup: int,
    progress: bool,
    desc: str,
    governor: ThreadGovernor | None = None,
) -> dict[str, Any]:
    """Train `warmup` episodes untimed, then time `episodes` more of `learner.step()`, the
    `governor` choosing the threads before each (None: the threads stay as they are)."""
    while learner.counters["episodes"] < warmup:
        if governor:
            governor.update()
        learner.step()
    cfg = learner.cfg
    done = steps = samples = 0
    threads: list[int] = []
    bar = tqdm(total=episodes, desc=desc, unit="ep", disable=not progress)
    start = time.perf_counter()
    while done < episodes:
        added, before = learner.buffer.added, learner.counters["episodes"]
        threads.append(governor.update() if governor else torch.get_num_threads())
        learner.step()
        n = learner.counters["episodes"] - before
        updates = n if cfg.mode == "parity" else cfg.updates_per_iteration
        done += n
        steps += learner.buffer.added - added
        samples += 2 * updates * learner.batch  # a critic and a policy batch per update
        bar.update(n)
    seconds = time.perf_counter() - start
    bar.close()
    return {
        "episodes": done,
        "seconds": round(seconds, 3),
        "episodes_per_s": round(done / seconds, 1),
        "env_steps_per_s": round(steps / seconds, 1),
        "update_samples_per_s": round(samples / seconds, 1),
        "mean_episode_length": round(steps / done, 2),
        "update_samples_per_episode": round(samples / done, 2),
        "paper_run_minutes": round(PAPER_EPISODES / (done / seconds) / 60, 1),
        "mean_threads": round(float(np.mean(threads)), 2),
    }


@contextmanager
def busy_neighbour():
    """A CPU-bound child process (one core spinning in Python) for the duration of the block."""
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)  # let it reach the scheduler
        yield
    finally:
        child.kill()
        child.wait()


def policy_latency(
    policy: Policy,
    n_items: int,
    window: int = 4,
    requests: int = 1_000,
    seed: int = 0,
) -> dict[str, Any]:
    """Per-request latency (batch 1, CPU) of `policy.act` for one user with a full history window:
    p50 / p99 / mean in milliseconds over `requests` calls, after 20 warm-up calls."""
    rng = np.random.default_rng(seed)
    recommended = np.zeros((1, n_items), dtype=bool)
    times = np.empty(requests)
    for i in range(requests + 20):
        obs = Observation(
            users=np.array([0]),
            window_items=rng.integers(0, n_items, (1, window)),
            window_rewards=rng.uniform(0, 5, (1, window)).astype(np.float32),
            turn=np.array([window]),
            recommended=recommended,
        )
        start = time.perf_counter()
        policy.act(obs, rng)
        if i >= 20:  # the first calls warm caches up
            times[i - 20] = time.perf_counter() - start
    ms = times * 1e3
    return {
        "requests": requests,
        "batch": 1,
        "device": "cpu",
        "p50_ms": round(float(np.percentile(ms, 50)), 4),
        "p99_ms": round(float(np.percentile(ms, 99)), 4),
        "mean_ms": round(float(ms.mean()), 4),
    }
