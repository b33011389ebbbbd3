"""`rlrec marco run` (one target / beta / seed), and the function behind `rlrec experiment
marco` (the whole study). `rlrec bench marco` lives with the other benchmarks (`cli.bench`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rlrec.config import load_config
from rlrec.errors import ConfigError

app = typer.Typer(
    help="MARCO: multi-source cross-domain recommendation for cold-start users.",
    no_args_is_help=True,
)

ConfigFile = Annotated[
    Path | None, typer.Option("--config", "-c", help="MARCO YAML file (see configs/marco/)")
]
Overrides = Annotated[
    list[str] | None,
    typer.Argument(help="config overrides key=value (e.g. marco.epochs=5 split.seq_len=30)"),
]


@app.callback()
def _marco() -> None:
    """MARCO and its baselines."""


def _config(config: Path | None, overrides: list[str] | None):
    from rlrec.crossdomain.config import MarcoExperimentConfig

    return load_config(MarcoExperimentConfig, config, overrides or [])


@app.command("run")
def run_cmd(
    config: ConfigFile = None,
    overrides: Overrides = None,
    target: Annotated[str | None, typer.Option(help="target domain (default: the first)")] = None,
    beta: Annotated[float, typer.Option(help="cold-start ratio")] = 0.2,
    seed: Annotated[int | None, typer.Option(help="split + training seed")] = None,
    methods: Annotated[
        str, typer.Option(help="comma-separated methods (crossdomain.methods)")
    ] = "marco,uniform,tgt",
) -> None:
    """One target x beta x seed: fit the methods, print MAE/RMSE/ranking and MARCO's weights."""
    from rlrec import tables
    from rlrec.crossdomain.experiment import (
        METRIC_KEYS,
        _slug,
        mf_quality,
        pretrain_stage,
        run_cell,
        start,
        study_methods,
        weight_lines,
        write_results,
    )

    cfg = _config(config, overrides)
    run, inter, truth = start(cfg)
    domains = sorted(inter["domain"].unique())
    target = target or (cfg.study.targets or domains)[0]
    if target not in domains:
        raise ConfigError(f"target {target!r} is not a domain; domains: {domains}")
    seed = cfg.study.seeds[0] if seed is None else seed
    task, mfs, key = pretrain_stage(run, cfg, inter, target, beta, seed)
    for line in mf_quality(mfs):
        typer.echo(line)
    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    names = study_methods(cfg, task.sources, truth, chosen)
    results = [run_cell(run, cfg, task, mfs, m, key, truth) for m in names]
    folder = run.dir / "runs" / f"{_slug(target)}-beta{beta}-seed{seed}"
    cols = [*METRIC_KEYS, "ndcg@10", "hr@10", "recall@10"]
    write_results(
        folder,
        results,
        cfg.model_copy(update={"study": cfg.study.model_copy(update={"seeds": [seed]})}),
    )
    typer.echo(
        f"target {target}, sources {task.sources}, beta {beta}, seed {seed}: "
        f"{len(task.users['test'])} cold-start test users"
    )
    typer.echo(tables.to_text(results, cols))
    for line in weight_lines(results, lambda r: r["method"]):
        typer.echo(line)
    typer.echo(f"results: {folder}/results.{{md,csv,json}}")


def experiment_marco(config: Path | None, overrides: list[str] | None) -> None:
    """`rlrec experiment marco`: every target x beta x method x seed, one table with plots."""
    from rlrec import tables
    from rlrec.crossdomain.experiment import METRIC_KEYS, aggregate, run_study, weight_lines

    cfg = _config(config, overrides)
    rows = aggregate(run_study(cfg, progress=True))
    labelled = [{**r, "method": f"{r['target']} b={r['beta']} {r['method']}"} for r in rows]
    typer.echo(tables.to_text(labelled, list(METRIC_KEYS)))
    for line in weight_lines(rows, lambda r: f"{r['target']} b={r['beta']} {r['method']}"):
        typer.echo(line)
    typer.echo(f"\nresults: {cfg.runs_dir / cfg.name}/results.{{md,csv,json}}, plots/*.png")
