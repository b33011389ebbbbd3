"""The commands of serving and scale-out, as plain functions the main CLI registers:

    rlrec export RUN_DIR [--out FILE]        export
    rlrec serve RUN_DIR|FILE                 serve
    rlrec bench serve RUN_DIR                bench_serve
    rlrec sweep [--ray]                      sweep
    rlrec demos generate --ray [--address]   demos_generate_ray

Each parameter carries its `--help` text (typer `Annotated`), so `app.command("serve")(serve)`
registers one as is. User errors raise `ConfigError` / `DataError` (one line, exit status 2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rlrec.errors import ConfigError
from rlrec.serve.guard import DEFAULT_BODY_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_BODY

RunDir = Annotated[
    Path, typer.Argument(help="run directory (runs/<name>) holding a trained policy")
]
Method = Annotated[
    str,
    typer.Option(help="trained method: il-rec, or a baseline (bc, dqn, sqn, bcq, cql, crr, ...)"),
]
Seed = Annotated[int | None, typer.Option(help="training seed (default: the run's seed)")]
PolicySource = Annotated[
    Path,
    typer.Argument(
        help="a policy file written by `rlrec export` (needs nothing else), or a run directory "
        "(runs/<name>) holding a trained policy"
    ),
]
Overrides = Annotated[
    list[str] | None,
    typer.Argument(
        help="config overrides key=value (nested keys with dots, e.g. llm.backend=openai)"
    ),
]
ConfigFile = Annotated[
    Path | None, typer.Option("--config", "-c", help="experiment YAML file (see configs/)")
]
RayFlag = Annotated[bool, typer.Option("--ray", help="run the tasks on Ray (extra `distributed`)")]
Address = Annotated[
    str | None,
    typer.Option(help="Ray cluster address (e.g. ray://host:10001, auto); default: a local Ray"),
]


def export(
    run_dir: RunDir,
    method: Method = "il-rec",
    seed: Seed = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="file to write (default <run>/export/<method>-seed<S>.zip)"),
    ] = None,
) -> Path:
    """Write a trained policy as one self-contained file (the scoring network's weights and
    construction arguments, the item catalogue, the train users, a manifest with versions and
    checksums): `rlrec serve FILE` and `rlrec.export.read_artefact` need nothing else."""
    from rlrec.atomic import sha256_file
    from rlrec.export import artefact_from_run, default_path, write_artefact

    artefact = artefact_from_run(run_dir, method, seed)
    dest = write_artefact(artefact, out or default_path(run_dir, method, artefact.source["seed"]))
    typer.echo(
        f"exported {method} (seed {artefact.source['seed']}) of {run_dir} to {dest}: "
        f"{dest.stat().st_size:,} bytes, sha256 {sha256_file(dest)}"
    )
    return dest


def serve(
    run_dir: PolicySource,
    method: Annotated[
        str, typer.Option(help="with a run directory: the trained method (il-rec, bc, dqn, ...)")
    ] = "il-rec",
    seed: Annotated[
        int | None,
        typer.Option(help="with a run directory: the training seed (default: the run's)"),
    ] = None,
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    token_env: Annotated[
        str, typer.Option(help="environment variable holding the bearer token clients must send")
    ] = "RLREC_TOKEN",
    access_log: Annotated[bool, typer.Option(help="log every request line")] = False,
    max_body: Annotated[
        int, typer.Option(help="largest request body in bytes (413 beyond it)")
    ] = DEFAULT_MAX_BODY,
    body_timeout: Annotated[
        float, typer.Option(help="seconds a client has to send a request body (408 after)")
    ] = DEFAULT_BODY_TIMEOUT,
    idle_timeout: Annotated[
        float,
        typer.Option(help="seconds a connection may wait for its next request's headers"),
    ] = DEFAULT_IDLE_TIMEOUT,
) -> None:
    """Serve a trained policy over HTTP: POST /recommend (top-k items for a user id and/or a
    recent history of (item, reward) pairs), GET /metadata, GET /healthz. Clients send
    `Authorization: Bearer $RLREC_TOKEN`; the token and the body size are checked before the
    body is read. No LLM is called."""
    from rlrec.runtime import apply_threads
    from rlrec.serve.app import create_app, run_server
    from rlrec.serve.model import LoadedPolicy

    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be between 0 and 65535, got {port}")
    apply_threads()
    app = create_app(
        model := LoadedPolicy.load(run_dir, method, seed),
        token_env=token_env,
        max_body=max_body,
        body_timeout=body_timeout,
    )
    what = f"{model.info.get('method')} (seed {model.info.get('seed')}) of {run_dir}"
    typer.echo(f"serving {what} on http://{host}:{port} (token from ${token_env})")
    run_server(app, host, port, idle_timeout=idle_timeout, access_log=access_log)


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
    overrides: Overrides = None,
) -> None:
    """Load-test the policy service on 127.0.0.1 (throughput, latency p50/p95/p99, errors) and
    time the run's LLM expert (`llm`, `agent`; overrides apply) per step on the same users:
    the ratio of the two, from one run."""
    from rlrec.bench import write_bench
    from rlrec.runtime import apply_threads
    from rlrec.serve.bench import bench_serve as run_bench

    if requests < 1 or concurrency < 1 or k < 1 or history < 0 or llm_steps < 0:
        raise ConfigError("--requests, --concurrency and --k must be >= 1; --history >= 0")
    apply_threads()
    result = run_bench(
        run_dir, method, seed, requests, concurrency, k, history, llm_steps, overrides or []
    )
    write_bench(out, result)
    typer.echo(json.dumps(result, indent=2))
    typer.echo(f"\nwritten to {out}")


def sweep(
    config: ConfigFile = None,
    methods: Annotated[
        str, typer.Option(help="comma-separated: il-rec, 'il-rec (parity)', bc, dqn, ...")
    ] = "il-rec",
    seeds: Annotated[str, typer.Option(help="comma-separated training seeds")] = "0,1",
    grid: Annotated[
        list[str] | None,
        typer.Option(
            "--grid",
            help="a swept hyper-parameter, key=v1,v2,... (repeatable; e.g. ilrec.lr=0.001,0.0003)",
        ),
    ] = None,
    name: Annotated[str, typer.Option(help="sweep name: <run>/sweeps/<name>/")] = "sweep",
    ray: RayFlag = False,
    address: Address = None,
    overrides: Overrides = None,
) -> None:
    """Train and evaluate methods x grid settings x seeds (one task each, on Ray with --ray)
    and write one table to <run>/sweeps/<name>/results.{md,csv,json}."""
    from rlrec import tables
    from rlrec.config import load_config
    from rlrec.distributed.sweep import SWEEP_METHODS, run_sweep, sweep_columns
    from rlrec.experiment import ExperimentConfig, start_run, world_stages

    method_list = [m.strip() for m in methods.split(",") if m.strip()]
    seed_list = _ints(seeds, "--seeds")
    parsed = parse_grid(grid or [])
    columns = list(dict.fromkeys(c for m in method_list for c in sweep_columns(m)))
    cfg = load_config(ExperimentConfig, config, overrides or [])
    if all(m in SWEEP_METHODS for m in method_list):
        run = start_run(cfg)  # registered families (MARCO) prepare their own inputs
    else:
        run, _ds, _world = world_stages(cfg)  # the world model every IL-Rec-side cell reads
    rows = run_sweep(
        cfg, run.dir, method_list, seed_list, parsed, name, use_ray=ray, address=address
    )
    typer.echo(tables.to_text(rows, ["setting", *columns]))
    typer.echo(f"\nresults: {run.dir / 'sweeps' / name}/results.{{md,csv,json}}")


def demos_generate_ray(
    config: ConfigFile = None,
    users: Annotated[
        int | None, typer.Option("--users", help="first N train users (seeded order; all if unset)")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="demonstration store (default study.demos or <run>/demos/<mode>.jsonl)"
        ),
    ] = None,
    workers: Annotated[int, typer.Option(help="shards of users (one task each)")] = 2,
    ray: Annotated[
        bool, typer.Option("--ray/--no-ray", help="Ray tasks, or the same shards here")
    ] = True,
    address: Address = None,
    overrides: Overrides = None,
) -> dict:
    """Let the LLM expert write demonstrations with the users spread over workers (Ray tasks,
    each with its own backend or a client of a shared OpenAI-compatible server), merged into
    one store; `--no-ray` runs the same shards here. Returns the store's report."""
    from rlrec.config import load_config
    from rlrec.distributed.demos import generate_demos_distributed
    from rlrec.experiment import ExperimentConfig, demos_plan, world_stages

    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    cfg = load_config(ExperimentConfig, config, overrides or [])
    run, _ds, world = world_stages(cfg)
    rows, quit, path = demos_plan(cfg, run, world, users, out)
    result = generate_demos_distributed(
        run.dir / "worldmodel", cfg.llm, cfg.agent, cfg.seed, rows, path, quit,
        workers=workers, use_ray=ray, address=address,
    )  # fmt: skip
    typer.echo(json.dumps(result, indent=2, default=str))
    typer.echo(f"\ndemonstrations: {path}")
    return {**result, "path": str(path)}


def parse_grid(items: list[str]) -> dict[str, list]:
    """["ilrec.lr=0.001,0.0003", ...] -> {"ilrec.lr": [0.001, 0.0003]} (values parsed as YAML)."""
    import yaml

    grid: dict[str, list] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip() or not raw.strip():
            raise ConfigError(f"--grid {item!r} is not of the form key=v1,v2,...")
        try:
            grid[key.strip()] = [yaml.safe_load(v) for v in raw.split(",")]
        except yaml.YAMLError:
            raise ConfigError(f"--grid {item!r}: a value is not valid YAML") from None
    return grid


def _ints(text: str, option: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{option} must be comma-separated integers, got {text!r}") from None
    if not values:
        raise ConfigError(f"{option} is empty")
    return values


__all__ = ["bench_serve", "demos_generate_ray", "export", "parse_grid", "serve", "sweep"]
