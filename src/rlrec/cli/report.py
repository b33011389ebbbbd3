"""Reports of finished runs: `rlrec report RUN`, `rlrec compare RUN_A RUN_B`, and `rlrec
quickstart` (both methods on MovieLens-100K, then the report)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rlrec.cli.options import ConfigFile, Overrides, experiment_config


def quickstart(config: ConfigFile = None, overrides: Overrides = None) -> None:
    """Both methods on MovieLens-100K with the real LLM, then the report (`make demo`)."""
    from rlrec.quickstart import run_quickstart

    cfg = experiment_config(config or Path("configs/quickstart.yaml"), overrides)
    path = run_quickstart(cfg, echo=lambda text: typer.echo(text, err=True))
    typer.echo(f"report: {path}")


def report(
    run_dir: Annotated[Path, typer.Argument(help="a run directory (runs/<name>)")],
) -> None:
    """Re-render a run's report (report.md, figures, results.json) from its files."""
    from rlrec.report import render_report

    typer.echo(f"report: {render_report(run_dir)}")


def compare(
    run_a: Annotated[Path, typer.Argument(help="first run directory")],
    run_b: Annotated[Path, typer.Argument(help="second run directory")],
) -> None:
    """Two runs' tables side by side (Markdown)."""
    from rlrec.report import compare_runs

    typer.echo(compare_runs(run_a, run_b))
