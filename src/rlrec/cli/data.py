"""`rlrec data ...`: list the datasets, fetch one into the cache, summarise it, and run an
experiment's data stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rlrec.cli.options import ConfigFile, Overrides, experiment_config

app = typer.Typer(help="Datasets: list, fetch into the cache, summarise.", no_args_is_help=True)

DataOverrides = Annotated[
    list[str] | None,
    typer.Argument(
        help="data config overrides key=value, e.g. kcore=5 'domains=[Books]' "
        "rating_scale=[1,10] (a data. prefix is accepted: data.kcore=5)"
    ),
]
PathOpt = Annotated[Path | None, typer.Option("--path", help="local folder or file of the data")]
StrictOpt = Annotated[
    bool,
    typer.Option(
        "--strict",
        help="stop at the first malformed record, out-of-scale or repeated rating (naming its "
        "line) instead of skipping it",
    ),
]


def _data_config(name: str, path: Path | None, strict: bool, overrides: list[str] | None):
    from rlrec.config import apply_overrides, validate
    from rlrec.data import DataConfig

    base = {"name": name, "strict": strict, **({"path": str(path)} if path else {})}
    plain = [o.removeprefix("data.") for o in overrides or []]  # as in an experiment config
    return validate(DataConfig, apply_overrides(base, plain), source="data config")


@app.command("list")
def data_list() -> None:
    """List the datasets rlrec knows."""
    from rlrec.data import registry

    specs = registry()
    width = max(len(n) for n in specs)
    for name, spec in sorted(specs.items()):
        needs = "  (needs --path)" if spec.needs_path else ""
        typer.echo(f"{name:<{width}}  {spec.description}{needs}")


@app.command("fetch")
def data_fetch(
    name: str, path: PathOpt = None, strict: StrictOpt = False, overrides: DataOverrides = None
) -> None:
    """Obtain and parse dataset NAME into the cache (${RLREC_HOME:-~/.cache/rlrec})."""
    from rlrec.data import load_dataset, summarize
    from rlrec.data.registry import cache_folder

    cfg = _data_config(name, path, strict, overrides)
    summary = summarize(load_dataset(cfg))
    typer.echo(
        f"{name}: {summary['users']:,} users, {summary['items']:,} items, "
        f"{summary['interactions']:,} interactions, cached at {cache_folder(cfg)}"
    )


@app.command("info")
def data_info(
    name: str,
    path: PathOpt = None,
    strict: StrictOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    overrides: DataOverrides = None,
) -> None:
    """Summarise dataset NAME: users, items, interactions, density, ratings, domains."""
    from rlrec.data import format_summary, load_dataset, summarize

    summary = summarize(load_dataset(_data_config(name, path, strict, overrides)))
    typer.echo(json.dumps(summary, indent=2) if as_json else format_summary(summary))


@app.command("prepare")
def data_prepare(config: ConfigFile = None, overrides: Overrides = None) -> None:
    """Run the data stage of an experiment: run directory, manifest, dataset summary."""
    from rlrec.data import format_summary
    from rlrec.experiment import data_stage, start_run

    cfg = experiment_config(config, overrides)
    run = start_run(cfg)
    _, summary = data_stage(cfg.data, run)
    typer.echo(format_summary(summary))
    typer.echo(f"\nrun directory: {run.dir}")
