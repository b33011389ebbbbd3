"""The `rlrec` command: the root, its global options, and the error handling of `main` (the
entry point). Each command group lives in a module of its own (`rlrec.cli.<group>`, below);
commands are thin: parse the config, call a stage, print the result.

Errors a user can cause (`RlrecError`: bad path, malformed file, bad config, unknown name) print
one line `error: ...` and exit with status 2, never a traceback.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer
from pydantic import ValidationError

from rlrec import __version__
from rlrec.cli import (
    bench,
    config,
    data,
    demos,
    experiment,
    ilrec,
    marco,
    report,
    serve,
    sweep,
    worldmodel,
)
from rlrec.errors import RlrecError

app = typer.Typer(
    name="rlrec",
    help="Reinforcement-learning recommender systems: IL-Rec and MARCO.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data.app, name="data")
app.add_typer(config.app, name="config")
app.add_typer(worldmodel.app, name="worldmodel")
app.add_typer(bench.app, name="bench")
app.add_typer(demos.app, name="demos")
app.add_typer(ilrec.app, name="ilrec")
app.add_typer(ilrec.baselines_app, name="baselines")
app.add_typer(experiment.app, name="experiment")
app.command("export")(serve.export)
app.command("serve")(serve.serve)
app.command("sweep")(sweep.sweep)
app.add_typer(marco.app, name="marco")
app.command("evaluate")(ilrec.evaluate)
app.command("quickstart")(report.quickstart)
app.command("report")(report.report)
app.command("compare")(report.compare)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rlrec {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="only warnings and errors")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="show the version")
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="rlrec: %(message)s",
        stream=sys.stderr,
    )


def _first_problem(err: ValidationError) -> str:
    from rlrec.config import clip

    first = err.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or err.title
    return clip(f"{where}: {first.get('msg', 'invalid')} (got {first.get('input')!r})")


def main() -> None:
    try:
        app()
    except RlrecError as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(2)
    except ValidationError as err:  # a value reached a config model past the command's checks
        typer.echo(f"error: invalid value: {_first_problem(err)}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
