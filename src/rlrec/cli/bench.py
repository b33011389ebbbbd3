"""`rlrec bench ...`: speed and quality benchmarks, each writing JSON (MARCO, the environment,
IL-Rec's training and policy latency, the LLM, the policy service under load)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rlrec.cli.options import ConfigFile, Overrides, experiment_config, positive
from rlrec.cli.serve import Method, RunDir, Seed
from rlrec.errors import ConfigError

app = typer.Typer(help="Speed and quality benchmarks (JSON out).", no_args_is_help=True)


@app.command("marco")
def bench_marco_cmd(
    out: Annotated[Path, typer.Option("--out", help="JSON file to write")] = Path(
        "runs/bench/marco.json"
    ),
    n_users: Annotated[int, typer.Option(help="users per synthetic domain")] = 2_000,
    n_items: Annotated[int, typer.Option(help="items per synthetic domain")] = 1_000,
    repeats: Annotated[int, typer.Option(help="timed repeats per figure")] = 3,
) -> None:
    """MARCO training samples/s and prediction pairs/s, beside the same model in parity mode."""
    from rlrec.bench.marco import bench_marco
    from rlrec.runtime import apply_threads

    positive(n_users=n_users, n_items=n_items, repeats=repeats)
    apply_threads()
    bench_marco(out, n_users, n_items, repeats)


@app.command("env")
def bench_env_cmd(
    out: Annotated[Path, typer.Option("--out", help="JSON file to write")] = Path(
        "runs/bench/env.json"
    ),
    n_items: Annotated[int, typer.Option(help="catalogue size")] = 13_864,
    seconds: Annotated[float, typer.Option(help="seconds per measured point")] = 1.0,
) -> None:
    """Environment steps per second: single gym env vs vectorised, batch 1..1024."""
    from rlrec.bench.env import bench_env

    positive(n_items=n_items, seconds=seconds)
    result = bench_env(n_items=n_items, seconds_per_point=seconds, progress=True)
    _write_and_show(out, result)


@app.command("ilrec")
def bench_ilrec_cmd(
    out: Annotated[Path, typer.Option("--out", help="JSON file to write")] = Path(
        "runs/bench/ilrec.json"
    ),
    n_users: Annotated[int, typer.Option(help="simulated users")] = 3_109,
    n_items: Annotated[int, typer.Option(help="catalogue size")] = 13_864,
    episodes: Annotated[int, typer.Option(help="timed training episodes per schedule")] = 2_048,
    requests: Annotated[int, typer.Option(help="timed single-user policy requests")] = 1_000,
    neighbour: Annotated[
        bool, typer.Option(help="also time the default schedule beside a CPU-bound process")
    ] = False,
) -> None:
    """IL-Rec training throughput at Amazon size (episodes/s, env steps/s, update samples/s,
    the paper's 100,000 episodes extrapolated) for rlrec's, the release's and parity's
    schedules, and the policy's batch-1 latency (network and inference path)."""
    from rlrec.bench.ilrec import bench_ilrec
    from rlrec.runtime import apply_threads

    positive(n_users=n_users, n_items=n_items, episodes=episodes, requests=requests)
    apply_threads()
    result = bench_ilrec(
        n_users, n_items, episodes, requests=requests, neighbour=neighbour, progress=True
    )
    _write_and_show(out, result)


@app.command("llm")
def bench_llm_cmd(
    config: ConfigFile = None,
    out: Annotated[Path, typer.Option("--out", help="JSON file to write")] = Path(
        "runs/bench/llm.json"
    ),
    prompts: Annotated[int, typer.Option(help="raw generation calls")] = 8,
    users: Annotated[int, typer.Option(help="agent episodes: the demonstrations' first users")] = 3,
    compare: Annotated[
        bool, typer.Option(help="also time the earlier agent (generate, separate prompts) first")
    ] = True,
    overrides: Overrides = None,
) -> None:
    """LLM token rates raw vs through the agent, per module and step, every call uncached."""
    from rlrec.bench.llm import bench_llm
    from rlrec.experiment import expert_episodes, world_stages
    from rlrec.interactive.llm.generate import build_agent, train_agent

    cfg = experiment_config(config, overrides)
    _run, _ds, world = world_stages(cfg)
    llm = cfg.llm.model_copy(update={"cache": False})
    settings = {"agent": cfg.agent}
    if compare:
        old = cfg.agent.model_copy(update={"actor_mode": "generate", "prompt_style": "separate"})
        settings = {"earlier": old, "agent": cfg.agent}
    agents = {name: build_agent(world, llm, a, cfg.seed) for name, a in settings.items()}
    rows, quit = expert_episodes(cfg, world, users)
    result = bench_llm(
        cfg.llm, prompts, cfg.llm.max_tokens, agents, lambda a: train_agent(world, a, rows, quit)
    )
    _write_and_show(out, result)


@app.command("serve")
def bench_serve(
    run_dir: RunDir,
    method: Method = "il-rec",
    seed: Seed = None,
    requests: Annotated[int, typer.Option(help="requests in the load test")] = 10_000,
    concurrency: Annotated[int, typer.Option(help="concurrent clients")] = 32,
    k: Annotated[int, typer.Option(help="items per answer")] = 10,
    history: Annotated[int, typer.Option(help="(item, reward) pairs sent per request")] = 4,
    llm_steps: Annotated[
        int, typer.Option(help="LLM-expert steps timed on the same users (0: skip)")
    ] = 8,
    out: Annotated[Path, typer.Option("--out", help="JSON file to write")] = Path(
        "runs/bench/serve.json"
    ),
    policy: Annotated[
        Path | None,
        typer.Option(help="serve this `rlrec export` file instead of the run's trained policy"),
    ] = None,
    client_procs: Annotated[int, typer.Option(help="processes the clients run in")] = 1,
    overrides: Overrides = None,
) -> None:
    """Load-test the policy service on 127.0.0.1 (throughput, latency p50/p95/p99, errors, the
    clients' CPU share) and time the run's LLM expert (`llm`, `agent`; overrides apply) per
    step on the same users: the ratio of the two, from one run."""
    from rlrec.runtime import apply_threads
    from rlrec.serve.bench import bench_serve as run_bench

    if requests < 1 or concurrency < 1 or k < 1 or history < 0 or llm_steps < 0:
        raise ConfigError("--requests, --concurrency and --k must be >= 1; --history >= 0")
    if client_procs < 1 or client_procs > concurrency:
        raise ConfigError("--client-procs must be between 1 and --concurrency")
    apply_threads()
    result = run_bench(
        run_dir, method, seed, requests, concurrency, k, history, llm_steps, overrides or [],
        policy_file=policy, client_procs=client_procs,
    )  # fmt: skip
    _write_and_show(out, result)


def _write_and_show(out: Path, result: dict) -> None:
    """Write a benchmark's JSON to `out`, print it, and say where it went."""
    from rlrec.bench import write_bench

    write_bench(out, result)
    typer.echo(json.dumps(result, indent=2))
    typer.echo(f"\nwritten to {out}")
