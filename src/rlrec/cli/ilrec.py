"""The IL-Rec side's training and evaluation: `rlrec ilrec train|evaluate`, `rlrec baselines
train --algo A` (the groups `app` and `baselines_app`) and `rlrec evaluate` (heuristics and LLM
agents on an experiment's world model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rlrec.cli.options import ConfigFile, Overrides, experiment_config
from rlrec.errors import ConfigError, DataError

app = typer.Typer(help="IL-Rec: the imitation-enhanced RL policy.", no_args_is_help=True)
baselines_app = typer.Typer(help="The learned RL baselines of IL-Rec.", no_args_is_help=True)


def evaluate(
    config: ConfigFile = None,
    policy: Annotated[
        str,
        typer.Option(
            "--policy",
            "-p",
            help="comma-separated: random,popularity,greedy,oracle, and the LLM agents "
            "llm-actonly,llm-react,llm-reflexion,llm-billp",
        ),
    ] = "random,popularity,greedy,oracle",
    overrides: Overrides = None,
) -> None:
    """Evaluate policies on the standard test users of an experiment's world model."""
    from rlrec import tables
    from rlrec.experiment import LLM_POLICIES, evaluate_stage, table_columns, world_stages
    from rlrec.interactive.learners.baselines.heuristics import HEURISTICS

    known = (*HEURISTICS, *LLM_POLICIES)
    names = [p.strip() for p in policy.split(",") if p.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ConfigError(f"unknown policy {unknown}; known: {', '.join(known)}")
    cfg = experiment_config(config, overrides)
    run, ds, world = world_stages(cfg)
    rows = evaluate_stage(cfg, ds, world, run, names)
    typer.echo(tables.to_text(rows, table_columns(rows)))
    typer.echo(f"\ntables: {run.dir / ('evaluate-' + cfg.evaluation.mode)}/results.{{md,csv,json}}")


def _train_and_report(config: Path | None, overrides: list[str] | None, method: str) -> None:
    from rlrec import tables
    from rlrec.experiment import world_stages
    from rlrec.interactive.evaluate import summarize
    from rlrec.interactive.study import train_one

    cfg = experiment_config(config, overrides)
    run, ds, world = world_stages(cfg)
    learner, curve, per_seed = train_one(cfg, run, ds, world, method)
    last = curve[-1] if curve else {}
    typer.echo(f"{method}: {last.get(learner.unit, 0):,} {learner.unit}; final training row:")
    typer.echo(json.dumps({k: round(v, 4) for k, v in last.items()}, indent=2))
    row = {"method": method, **summarize(per_seed)}
    typer.echo("\n" + tables.to_text([row], ["Len", "R_each", "R_traj", "coverage"]))
    typer.echo(f"(test users, evaluation seed {cfg.seed}; stage folder under {run.dir / 'train'})")


@app.command("train")
def ilrec_train(config: ConfigFile = None, overrides: Overrides = None) -> None:
    """Train IL-Rec (config `ilrec`) on the experiment's world model and demonstrations."""
    _train_and_report(config, overrides, "il-rec")


@app.command("evaluate")
def ilrec_evaluate(
    config: ConfigFile = None,
    overrides: Overrides = None,
    policy: Annotated[
        Path | None,
        typer.Option(help="a policy file written by `rlrec export`, instead of the run's IL-Rec"),
    ] = None,
) -> None:
    """Evaluate the trained IL-Rec policy (or an exported policy file: no demonstrations or
    training data needed) on the standard test users (all evaluation seeds)."""
    from rlrec import tables
    from rlrec.experiment import world_stages
    from rlrec.interactive.evaluate import evaluate_policy, summarize

    cfg = experiment_config(config, overrides)
    run, ds, world = world_stages(cfg)
    if policy is not None:
        from rlrec.export import read_artefact

        artefact = read_artefact(policy)
        if len(artefact.item_ids) != world.n_items:
            raise DataError(
                f"{policy} scores {len(artefact.item_ids)} items, the world model has "
                f"{world.n_items}: export the policy from a run of the same data"
            )
        name, acting = str(artefact.source.get("method", policy.name)), artefact.policy()
    else:
        from rlrec.interactive.study import trained_learner

        name, acting = "il-rec", trained_learner(cfg, run, ds, world, "il-rec").policy()
    rows = [{"method": name, **summarize(evaluate_policy(acting, world, cfg.evaluation))}]
    typer.echo(tables.to_text(rows, ["Len", "R_each", "R_traj", "coverage"]))
    typer.echo(f"({cfg.evaluation.n_users} test users, seeds {cfg.evaluation.seeds})")


@baselines_app.command("train")
def baselines_train(
    algo: Annotated[str, typer.Option("--algo", help="bc, dqn, sqn, bcq, cql, crr, a2c, dorl")],
    config: ConfigFile = None,
    overrides: Overrides = None,
) -> None:
    """Train one RL baseline (config `baselines.<algo>`) and evaluate it on the test users."""
    _train_and_report(config, overrides, algo)
