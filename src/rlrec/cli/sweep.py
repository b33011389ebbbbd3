"""`rlrec sweep`: methods x grid settings x seeds, one task each (on Ray with --ray), one
table."""

from __future__ import annotations

from typing import Annotated

import typer

from rlrec.cli.options import Address, ConfigFile, Overrides, experiment_config, ints
from rlrec.errors import ConfigError

RayFlag = Annotated[bool, typer.Option("--ray", help="run the tasks on Ray (extra `distributed`)")]


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
    from rlrec.distributed.sweep import SWEEP_METHODS, run_sweep, sweep_columns
    from rlrec.experiment import start_run, world_stages

    method_list = [m.strip() for m in methods.split(",") if m.strip()]
    seed_list = ints(seeds, "--seeds")
    parsed = parse_grid(grid or [])
    columns = list(dict.fromkeys(c for m in method_list for c in sweep_columns(m)))
    cfg = experiment_config(config, overrides)
    if all(m in SWEEP_METHODS for m in method_list):
        run = start_run(cfg)  # registered families (MARCO) prepare their own inputs
    else:
        run, _ds, _world = world_stages(cfg)  # the world model every IL-Rec-side cell reads
    rows = run_sweep(
        cfg, run.dir, method_list, seed_list, parsed, name, use_ray=ray, address=address
    )
    typer.echo(tables.to_text(rows, ["setting", *columns]))
    typer.echo(f"\nresults: {run.dir / 'sweeps' / name}/results.{{md,csv,json}}")


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
