"""`rlrec bench serve`: the served policy under load on loopback, beside the LLM expert's cost.

1. The service (`create_app` under uvicorn) starts in a child process on 127.0.0.1 with a fresh
   random token, so the server and the load clients do not share one interpreter.
2. `concurrency` clients (one asyncio task and one keep-alive connection each, on uvloop where
   installed, in `client_procs` processes) send `requests` POST /recommend between them: train
   users of the world model in a seeded order, each with a random recent history of `history`
   (item, reward) pairs, after `warmup` uncounted ones. The clients' CPU seconds per wall
   second and process are reported (`client_cpu_share`): near 1, the load generator, not the
   server, was the bottleneck.
   Every request is timed end to end on the client; any status other than 200, a 200 without
   items, or a failed connection is an error. The server reports the seconds its policy passes
   took, hence the compute per request without HTTP (`policy_ms_per_request`).
3. The server stops; then the LLM expert of the run's `llm` / `agent` config takes `llm_steps`
   steps (act + critic) in the train environment on the first users of the same stream. Its
   per-step LLM seconds are those the backend reports (for a cached answer, what the original
   call cost: the figure describes the method, not how warm the cache was); the wall-clock
   seconds measured now are reported beside them.

Both figures come from one run on one machine, so their ratios are meaningful: LLM seconds per
step over the policy's p50 and p99 request latency under load, and over its compute per request.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from rlrec.bench import machine_info
from rlrec.errors import DataError

__all__ = ["bench_serve", "load_test", "measure_expert", "request_bodies", "run_clients"]

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
    warmup: int = 200,
    agent: Any = None,
    ready_timeout_s: float = 600.0,
    policy_file: str | Path | None = None,
    client_procs: int = 1,
) -> dict[str, Any]:
    """Load-test the service of `run_dir`'s trained `method` (or of `policy_file`, a policy
    `rlrec export` wrote from a run of the same data) and measure the LLM expert (built from
    the run's config plus `overrides`, or `agent` when given; `llm_steps=0`: skip it).
    `warmup` requests go first and are not counted; the clients run in `client_procs`
    processes."""
    from rlrec.config import load_config
    from rlrec.experiment import ExperimentConfig
    from rlrec.interactive.world.worldmodel import WorldModel

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
    server = _start_server(Path(policy_file or run_dir), method, seed, port, token)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/healthz", server, ready_timeout_s)
        if warmup:  # first passes, connections: not what a running service costs
            run_clients(port, token, bodies[:warmup], concurrency, client_procs)
        before = _get_json(f"http://127.0.0.1:{port}/metadata", token)
        result = run_clients(port, token, bodies, concurrency, client_procs)
        meta = _get_json(f"http://127.0.0.1:{port}/metadata", token)
    finally:
        _stop_server(server)
    out: dict[str, Any] = {
        "bench": "serve",
        "machine": machine_info(),
        "served": {k_: meta[k_] for k_ in ("run", "method", "seed", "policy", "n_items")},
        "load": {
            **result,
            "concurrency": concurrency,
            "client_procs": client_procs,
            "k": k,
            "history": history,
            "warmup_requests": warmup,
        },
        "batching": _batching(before, meta),
    }
    if llm_steps > 0:
        if agent is None:
            from rlrec.interactive.llm.generate import build_agent

            agent = build_agent(world, cfg.llm, cfg.agent, cfg.seed)
        expert = measure_expert(world, agent, users, llm_steps, cfg.evaluation.quit)
        step_s = expert["latency_s_per_step"]
        compute_ms = out["batching"]["policy_ms_per_request"]
        out["llm_expert"] = {
            **expert,
            "backend": agent.backend.name,
            "model": agent.backend.model_name,
            "mode": agent.cfg.mode,
        }
        out["ratio"] = {  # LLM seconds per step / policy seconds per request
            "llm_step_over_policy_p50": step_s / (result["latency_ms"]["p50"] / 1000),
            "llm_step_over_policy_p99": step_s / (result["latency_ms"]["p99"] / 1000),
            "llm_step_over_policy_compute": step_s / (compute_ms / 1000) if compute_ms else None,
        }
    return out


def _batching(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
    """Policy passes of the counted requests: how many, their mean batch, compute per request."""
    passes = after["batches"] - before["batches"]
    queries = after["queries"] - before["queries"]
    seconds = after["policy_seconds"] - before["policy_seconds"]
    return {
        "passes": passes,
        "mean_batch": queries / max(passes, 1),
        "policy_ms_per_request": 1000 * seconds / max(queries, 1),
    }


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


def run_clients(
    port: int, token: str, bodies: list[bytes], concurrency: int, procs: int = 1
) -> dict[str, Any]:
    """`load_test` from `procs` processes at once (bodies and clients split between them; one
    process: this one), merged: latency percentiles over every request, throughput over the
    wall time of the slowest, and `client_cpu_share`, the clients' CPU seconds per wall second
    per process: near 1, the load generator (not the server) set the pace."""
    if procs <= 1:
        return summarise(_run(load_test("127.0.0.1", port, token, bodies, concurrency)))
    import multiprocessing

    parts = [(port, token, bodies[i::procs], max(1, concurrency // procs)) for i in range(procs)]
    with multiprocessing.get_context("fork").Pool(procs) as pool:
        raw = pool.starmap(_client_process, parts)
    merged = {
        "latencies": np.concatenate([r["latencies"] for r in raw]),
        "errors": {},
        "seconds": max(r["seconds"] for r in raw),
        "cpu_seconds": sum(r["cpu_seconds"] for r in raw),
        "procs": procs,
    }
    for r in raw:
        for kind, n in r["errors"].items():
            merged["errors"][kind] = merged["errors"].get(kind, 0) + n
    return summarise(merged)


def _client_process(port: int, token: str, bodies: list[bytes], concurrency: int) -> dict:
    return _run(load_test("127.0.0.1", port, token, bodies, concurrency))


def _run(coro: Any) -> Any:
    """Run `coro` on uvloop where it is installed (`uvicorn[standard]`), else on asyncio's
    loop: the clients' event loop costs CPU the server then does not get."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def summarise(raw: dict[str, Any]) -> dict[str, Any]:
    """The report of one or more `load_test` runs."""
    ms = raw["latencies"] * 1000
    n = len(ms)
    return {
        "requests": n,
        "errors": sum(raw["errors"].values()),
        "errors_by_kind": raw["errors"],
        "seconds": raw["seconds"],
        "throughput_rps": n / raw["seconds"],
        "client_cpu_share": raw["cpu_seconds"] / raw["seconds"] / raw.get("procs", 1),
        "latency_ms": {
            "mean": float(ms.mean()),
            **{f"p{q}": float(np.percentile(ms, q)) for q in (50, 95, 99)},
            "max": float(ms.max()),
        },
    }


async def load_test(
    host: str, port: int, token: str, bodies: list[bytes], concurrency: int
) -> dict[str, Any]:
    """Send every body to POST /recommend from `concurrency` clients: the latency of each
    request (s), the errors by kind, the wall and CPU seconds of the whole run (`summarise`
    turns them into the report).

    Each client is one keep-alive HTTP/1.1 connection written directly on asyncio streams: a
    general client (httpx) spends more CPU per request than the server, on the same machine."""
    head = (
        f"POST /recommend HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nContent-Length: "
    ).encode()
    latencies = np.zeros(len(bodies))
    errors: dict[str, int] = {}
    next_index = iter(range(len(bodies)))

    async def client() -> None:
        reader = writer = None
        for i in next_index:
            start = time.perf_counter()
            kind = None
            try:
                async with asyncio.timeout(60):
                    if writer is None:
                        reader, writer = await asyncio.open_connection(host, port)
                    writer.write(b"%s%d\r\n\r\n%s" % (head, len(bodies[i]), bodies[i]))
                    status, body, close = await read_response(reader)
                if status != 200:
                    kind = f"http {status}"
                elif b'"items"' not in body:
                    kind = "200 without items"
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as err:
                kind, close = type(err).__name__, True
            latencies[i] = time.perf_counter() - start
            if kind is not None:
                errors[kind] = errors.get(kind, 0) + 1
            if close and writer is not None:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    seconds = time.perf_counter() - start
    return {
        "latencies": latencies,
        "errors": errors,
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu,
    }


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, server closes) of one HTTP/1.1 response with a Content-Length."""
    lines = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
    status = int(lines[0].split()[1])
    length, close = None, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            close = value.strip().lower() == b"close"
    if length is None:
        raise ValueError("response without Content-Length")
    return status, await reader.readexactly(length), close


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


def serve_child() -> None:
    """The server process: `python -c ... RUN_DIR|FILE METHOD SEED PORT`, token in
    $RLREC_BENCH_TOKEN
    (a plain subprocess, not multiprocessing: `python -m rlrec` would be re-run by a spawn)."""
    import uvicorn

    from rlrec.errors import RlrecError
    from rlrec.runtime import apply_threads
    from rlrec.serve.app import create_app
    from rlrec.serve.model import LoadedPolicy

    source, method, seed, port = sys.argv[1:5]
    apply_threads()
    try:
        model = LoadedPolicy.load(source, method, int(seed) if seed else None)
        app = create_app(model, token_env=TOKEN_ENV)
    except RlrecError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning", access_log=False)


def _start_server(
    source: Path, method: str, seed: int | None, port: int, token: str
) -> subprocess.Popen:
    code = "from rlrec.serve.bench import serve_child; serve_child()"
    args = [str(source), method, "" if seed is None else str(seed), str(port)]
    env = {**os.environ, TOKEN_ENV: token}  # not on the command line, where `ps` shows it
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env)


def _stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_ready(url: str, process: subprocess.Popen, timeout_s: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DataError(
                f"the policy server exited with status {process.returncode} on start (see above)"
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
