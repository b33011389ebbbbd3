"""`rlrec bench serve`: the served policy under load on loopback, beside the LLM expert's cost.

1. The service (`create_app` under uvicorn) starts in a child process on 127.0.0.1 with a fresh
   random token, so the server and the load clients do not share one interpreter.
2. `concurrency` clients (one asyncio task and one keep-alive connection each) send `requests`
   POST /recommend between them: train users of the world model in a seeded order, each with a
   random recent history of `history` (item, reward) pairs. Every request is timed end to end
   on the client; any status other than 200, or a failed connection, is an error.
3. The server stops; then the LLM expert of the run's `llm` / `agent` config takes `llm_steps`
   steps (act + critic) in the train environment on the first users of the same stream. Its
   per-step LLM seconds are those the backend reports (for a cached answer, what the original
   call cost: the figure describes the method, not how warm the cache was); the wall-clock
   seconds measured now are reported beside them.

Both figures come from one run on one machine, so their ratio is meaningful.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import secrets
import socket
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from rlrec.bench import machine_info
from rlrec.errors import DataError

__all__ = ["bench_serve", "load_test", "measure_expert", "request_bodies"]

TOKEN_ENV = "RLREC_BENCH_TOKEN"


def bench_serve(
    run_dir: str | Path,
    method: str = "il-rec",
    seed: int | None = None,
    requests: int = 10_000,
    concurrency: int = 32,
    k: int = 10,
    history: int = 4,
    llm_steps: int = 8,
    overrides: list[str] | None = None,
    agent: Any = None,
    ready_timeout_s: float = 600.0,
) -> dict[str, Any]:
    """Load-test the service of `run_dir`'s trained `method` and measure the LLM expert (built
    from the run's config plus `overrides`, or `agent` when given; `llm_steps=0`: skip it)."""
    from rlrec.config import load_config
    from rlrec.experiment import ExperimentConfig
    from rlrec.interactive.worldmodel import WorldModel

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise DataError(f"{run_dir} is not a run directory (no config.yaml)")
    cfg = load_config(ExperimentConfig, run_dir / "config.yaml", overrides or [])
    world = WorldModel.load(run_dir / "worldmodel")
    rng = np.random.default_rng(cfg.seed)
    users = rng.permutation(len(world.users["train"]))
    bodies = request_bodies(world, users, requests, k, history, rng)

    token = secrets.token_urlsafe(24)
    port = _free_port()
    server = _start_server(run_dir, method, seed, port, token)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/healthz", server, ready_timeout_s)
        result = asyncio.run(load_test(f"http://127.0.0.1:{port}", token, bodies, concurrency))
        meta = _get_json(f"http://127.0.0.1:{port}/metadata", token)
    finally:
        server.terminate()
        server.join(10)
        if server.is_alive():
            server.kill()
    out: dict[str, Any] = {
        "bench": "serve",
        "machine": machine_info(),
        "served": {k_: meta[k_] for k_ in ("run", "method", "seed", "policy", "n_items")},
        "load": {**result, "concurrency": concurrency, "k": k, "history": history},
        "batching": {
            "passes": meta["batches"],
            "mean_batch": meta["queries"] / max(meta["batches"], 1),
        },
    }
    if llm_steps > 0:
        if agent is None:
            from rlrec.interactive.llm.generate import build_agent

            agent = build_agent(world, cfg.llm, cfg.agent, cfg.seed)
        expert = measure_expert(world, agent, users, llm_steps, cfg.evaluation.quit)
        policy_s = result["latency_ms"]["p50"] / 1000
        out["llm_expert"] = {
            **expert,
            "backend": agent.backend.name,
            "model": agent.backend.model_name,
            "mode": agent.cfg.mode,
        }
        out["ratio"] = {
            "llm_step_over_policy_p50": expert["latency_s_per_step"] / policy_s,
            "llm_step_over_policy_p99": expert["latency_s_per_step"]
            / (result["latency_ms"]["p99"] / 1000),
        }
    return out


def request_bodies(
    world: Any, users: np.ndarray, n: int, k: int, history: int, rng: np.random.Generator
) -> list[bytes]:
    """`n` JSON bodies: train users in `users` order (cycled), random recent histories."""
    user_ids = np.asarray(world.users["train"])[np.resize(users, n)].tolist()
    item_ids = world.items["item_id"].to_numpy()
    picks = item_ids[rng.integers(0, len(item_ids), size=(n, history))].tolist()
    rewards = np.round(rng.uniform(0.0, 5.0, size=(n, history)), 2).tolist()
    return [
        json.dumps(
            {
                "user_id": u,
                "k": k,
                "history": [{"item_id": i, "reward": r} for i, r in zip(its, rs, strict=True)],
            }
        ).encode()
        for u, its, rs in zip(user_ids, picks, rewards, strict=True)
    ]


async def load_test(
    base_url: str, token: str, bodies: list[bytes], concurrency: int
) -> dict[str, Any]:
    """Send every body to POST /recommend from `concurrency` clients; latency percentiles (ms),
    throughput (requests/s over the whole run) and the errors by kind."""
    import httpx

    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    latencies = np.zeros(len(bodies))
    errors: dict[str, int] = {}
    next_index = iter(range(len(bodies)))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def client(http: httpx.AsyncClient) -> None:
        for i in next_index:
            start = time.perf_counter()
            try:
                response = await http.post("/recommend", content=bodies[i], headers=headers)
                ok = response.status_code == 200
                kind = f"http {response.status_code}"
            except httpx.HTTPError as err:
                ok, kind = False, type(err).__name__
            latencies[i] = time.perf_counter() - start
            if not ok:
                errors[kind] = errors.get(kind, 0) + 1

    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60.0) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        seconds = time.perf_counter() - start
    ms = latencies * 1000
    return {
        "requests": len(bodies),
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
        "seconds": seconds,
        "throughput_rps": len(bodies) / seconds,
        "latency_ms": {
            "mean": float(ms.mean()),
            **{f"p{q}": float(np.percentile(ms, q)) for q in (50, 95, 99)},
            "max": float(ms.max()),
        },
    }


def measure_expert(
    world: Any, agent: Any, users: np.ndarray, steps: int, quit: Any
) -> dict[str, Any]:
    """`steps` LLM-expert steps (act + critic) on the train users in `users` order, one episode
    after another; per-step LLM seconds (as the backend reports them) and wall seconds."""
    from rlrec.interactive.env import RecEnv

    env = RecEnv.from_world(world, "train", quit)
    llm_s, wall_s, tokens = [], [], []
    user_iter = iter(np.resize(users, steps).tolist())
    history: list[str] = []
    window: list[list[float]] = []
    done = True
    for _ in range(steps):
        if done:
            env.reset(options={"user": next(user_iter)})
            history, window = [], []
        start = time.perf_counter()
        step = agent.act(history, window)
        _, reward, terminated, truncated, _ = env.step(step["item"])
        done = terminated or truncated
        title = agent.titles[step["item"]]
        critic = agent.observe(history, title, reward, [*history, title], done, quit=terminated)
        wall_s.append(time.perf_counter() - start)
        llm_s.append(float(step.get("latency") or 0.0) + float(critic.get("critic_latency") or 0))
        tokens.append(int(step.get("tokens") or 0) + int(critic.get("critic_tokens") or 0))
        history = [*history, title]
        window = [*window, [step["item"], reward]][-quit.window :]
    return {
        "steps": steps,
        "latency_s_per_step": float(np.mean(llm_s)),
        "wall_s_per_step": float(np.mean(wall_s)),
        "tokens_per_step": float(np.mean(tokens)),
    }


# -- the server process --------------------------------------------------------------------------


def _serve_process(run_dir: str, method: str, seed: int | None, port: int, token: str) -> None:
    import uvicorn

    from rlrec.runtime import apply_threads
    from rlrec.serve.app import create_app
    from rlrec.serve.model import LoadedPolicy

    from rlrec.errors import RlrecError

    apply_threads()
    os.environ[TOKEN_ENV] = token
    try:
        app = create_app(LoadedPolicy.from_run(run_dir, method, seed), token_env=TOKEN_ENV)
    except RlrecError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _start_server(
    run_dir: Path, method: str, seed: int | None, port: int, token: str
) -> mp.process.BaseProcess:
    ctx = mp.get_context("spawn")  # a clean interpreter: no torch threads inherited
    process = ctx.Process(
        target=_serve_process, args=(str(run_dir), method, seed, port, token), daemon=True
    )
    process.start()
    return process


def _wait_ready(url: str, process: mp.process.BaseProcess, timeout_s: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not process.is_alive():
            raise DataError(
                f"the policy server exited with status {process.exitcode} on start (see above)"
            )
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise DataError(f"the policy server did not answer {url} within {timeout_s:.0f} s")


def _get_json(url: str, token: str) -> dict[str, Any]:
    import httpx

    response = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10.0)
    response.raise_for_status()
    return response.json()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

