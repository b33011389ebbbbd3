"""`rlrec worldmodel train`: fit an experiment's world model (the simulated user)."""

from __future__ import annotations

import json

import typer

from rlrec.cli.options import ConfigFile, Overrides, experiment_config

app = typer.Typer(help="World models: the simulated user.", no_args_is_help=True)


@app.command("train")
def worldmodel_train(config: ConfigFile = None, overrides: Overrides = None) -> None:
    """Fit the world model of an experiment (data stage first) and report its quality."""
    from rlrec.experiment import world_stages

    cfg = experiment_config(config, overrides)
    run, _ds, world = world_stages(cfg)
    typer.echo(json.dumps(run.outputs("worldmodel")["summary"], indent=2))
    typer.echo(f"\nworld model: {run.dir / 'worldmodel'} ({world.n_items:,} items)")
