"""`rlrec demos ...`: demonstrations for imitation: BiLLP's recorded trajectories imported, or
the LLM expert's written on the world model (here, or spread over Ray workers with --ray)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rlrec.cli.options import Address, ConfigFile, Overrides, experiment_config
from rlrec.errors import ConfigError, DataError

app = typer.Typer(help="Demonstrations: LLM trajectories for imitation.", no_args_is_help=True)


@app.command("import-billp")
def demos_import_billp(
    files: Annotated[list[Path], typer.Argument(help="BiLLP trajs_agent JSON files")],
    catalogue: Annotated[
        Path, typer.Option("--catalogue", help="BiLLP folder with datamaps.json (the item ids)")
    ],
    out: Annotated[Path, typer.Option("--out", help="demonstration store (JSONL) to write")],
    grounder: Annotated[
        str, typer.Option(help="grounding of unmatched titles: embedding or ngram")
    ] = "embedding",
    terminal: Annotated[
        str, typer.Option(help="quit-step policy: keep, drop, reward_minus1000, reward_zero")
    ] = "keep",
) -> None:
    """Convert BiLLP's LLM trajectories into a demonstration store, with a report."""
    from rlrec.data.billp import load_billp
    from rlrec.interactive.demos.billp_trajs import import_billp_trajs
    from rlrec.interactive.text.grounding import make_grounder

    for f in files:
        if not f.is_file():
            raise DataError(f"trajectory file not found: {f}")
    dataset = "steam" if files[0].name.startswith("steam") else "amazon"
    items = load_billp(catalogue, dataset).items
    report = import_billp_trajs(files, items, out, make_grounder(items, grounder), terminal)
    typer.echo(json.dumps(report, indent=2, default=str))
    _echo_demos(out)


@app.command("generate")
def demos_generate(
    config: ConfigFile = None,
    users: Annotated[
        int | None, typer.Option("--users", help="first N train users (seeded order; all if unset)")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="demonstration store (default <run>/demos/<mode>.jsonl)"),
    ] = None,
    ray: Annotated[
        bool, typer.Option("--ray", help="spread users over Ray workers (extra `distributed`)")
    ] = False,
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (with --ray; default: a local Ray)")
    ] = None,
    workers: Annotated[int, typer.Option(help="Ray workers (with --ray)")] = 2,
    overrides: Overrides = None,
) -> None:
    """Let the LLM expert (`llm`, `agent` sections) write demonstrations on the world model."""
    if ray:
        result = demos_generate_ray(config, users, out, workers, True, address, overrides)
        _echo_demos(Path(result["path"]))  # the report is already printed
        return
    from rlrec.experiment import demos_stage, world_stages

    cfg = experiment_config(config, overrides)
    run, _ds, world = world_stages(cfg)
    path, result = demos_stage(cfg, run, world, users, out)
    typer.echo(json.dumps(result, indent=2, default=str))
    _echo_demos(path)


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
    from rlrec.distributed.demos import generate_demos_distributed
    from rlrec.experiment import demos_plan, world_stages

    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    cfg = experiment_config(config, overrides)
    run, _ds, world = world_stages(cfg)
    rows, quit, path = demos_plan(cfg, run, world, users, out)
    result = generate_demos_distributed(
        run.dir / "worldmodel", cfg.llm, cfg.agent, cfg.seed, rows, path, quit,
        workers=workers, use_ray=ray, address=address,
    )  # fmt: skip
    typer.echo(json.dumps(result, indent=2, default=str))
    typer.echo(f"\ndemonstrations: {path}")
    return {**result, "path": str(path)}


def _echo_demos(store_path: Path) -> None:
    """Write the store's transition table for learning beside it, and say where both are."""
    from rlrec.atomic import write_parquet
    from rlrec.interactive.demos.store import DemoStore, transitions

    table = store_path.with_name(store_path.name.removesuffix(".jsonl") + ".transitions.parquet")
    write_parquet(table, transitions(DemoStore.read(store_path)))
    typer.echo(f"\ndemonstrations: {store_path}\ntransitions: {table}")
