"""What the command modules share: the `-c/--config` option, the overrides argument, Ray's
`--address`, the experiment config they resolve to, and checks of numeric options (each failing
with a `ConfigError`: one line, exit status 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rlrec.errors import ConfigError

Overrides = Annotated[
    list[str] | None,
    typer.Argument(help="config overrides key=value (nested keys with dots, e.g. data.kcore=5)"),
]

ConfigFile = Annotated[
    Path | None, typer.Option("--config", "-c", help="experiment YAML file (see configs/)")
]
Address = Annotated[
    str | None,
    typer.Option(help="Ray cluster address (e.g. ray://host:10001, auto); default: a local Ray"),
]


def experiment_config(config: Path | None, overrides: list[str] | None):
    """The IL-Rec `ExperimentConfig` of a YAML file plus key=value overrides."""
    from rlrec.config import load_config
    from rlrec.experiment import ExperimentConfig

    return load_config(ExperimentConfig, config, overrides or [])


def positive(**options: float) -> None:
    """ConfigError naming the first option that is not a positive finite number."""
    for name, value in options.items():
        if not 0 < value < float("inf"):
            raise ConfigError(f"--{name.replace('_', '-')} must be a positive number, got {value}")


def ints(text: str, option: str) -> list[int]:
    """The integers of a comma-separated option (`--seeds 0,1`)."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{option} must be comma-separated integers, got {text!r}") from None
    if not values:
        raise ConfigError(f"{option} is empty")
    return values
