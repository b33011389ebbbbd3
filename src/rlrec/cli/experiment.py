"""`rlrec experiment ilrec|marco`: whole experiments, every method over several seeds, one table
with its figures."""

from __future__ import annotations

import typer

from rlrec.cli.options import ConfigFile, Overrides, experiment_config

app = typer.Typer(
    help="Whole experiments: every method over several seeds, one table.", no_args_is_help=True
)


@app.command("ilrec")
def experiment_ilrec(config: ConfigFile = None, overrides: Overrides = None) -> None:
    """IL-Rec, its ablations, the RL baselines, the LLM expert and heuristics over
    `study.seeds`: one table (md/csv/json) and learning curves (PNG) in <run>/results."""
    from rlrec import tables
    from rlrec.experiment import world_stages
    from rlrec.interactive.study import COLUMNS, run_study

    cfg = experiment_config(config, overrides)
    run, ds, world = world_stages(cfg)
    rows = run_study(cfg, run, ds, world)
    typer.echo(tables.to_text(rows, ["learns from", *COLUMNS]))
    typer.echo(f"\nresults: {run.dir / 'results'}/results.{{md,csv,json}}, curves_*.png")


@app.command("marco")
def experiment_marco(config: ConfigFile = None, overrides: Overrides = None) -> None:
    """MARCO, its parity mode and baselines over targets x beta x seeds: one table with plots
    (config: configs/marco/*.yaml)."""
    from rlrec.cli.marco import experiment_marco as run

    run(config, overrides)
