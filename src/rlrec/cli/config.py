"""`rlrec config show`: the fully resolved config of an IL-Rec or a MARCO experiment."""

from __future__ import annotations

import typer

from rlrec.cli.options import ConfigFile, Overrides

app = typer.Typer(help="Experiment configs.", no_args_is_help=True)


@app.command("show")
def config_show(config: ConfigFile = None, overrides: Overrides = None) -> None:
    """Print the fully resolved config (file + overrides + defaults): an IL-Rec experiment
    (configs/ilrec/*.yaml, configs/quickstart.yaml) or a MARCO one (configs/marco/*.yaml, told
    apart by its MARCO-only sections: mf, domains, split, emcdr)."""
    from rlrec.config import apply_overrides, read_yaml, to_yaml, validate

    data = apply_overrides(read_yaml(config) if config else {}, overrides or [])
    cls = _config_class(data)
    typer.echo(to_yaml(validate(cls, data, source=str(config or "config"))), nl=False)


def _config_class(data: dict):
    """MarcoExperimentConfig when `data` has a section only MARCO configs have, else
    ExperimentConfig."""
    from rlrec.crossdomain.config import MarcoExperimentConfig
    from rlrec.experiment import ExperimentConfig

    marco_only = set(MarcoExperimentConfig.model_fields) - set(ExperimentConfig.model_fields)
    return MarcoExperimentConfig if marco_only & set(data) else ExperimentConfig
