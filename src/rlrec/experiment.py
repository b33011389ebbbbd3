"""The experiment config (one YAML file under `configs/`) and the stages it runs.

An experiment is a run directory `<runs_dir>/<name>` plus the stage configs. Each stage is a
function from its inputs to artefacts in the run directory; it is skipped when the run already
holds its output for the same parameters and inputs (see `rlrec.runs`).

    data -> worldmodel -> evaluate                          heuristics and LLM agents
    data -> worldmodel -> train/<method>/seed<k> -> results  the IL-Rec study (`study.py`)
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from pydantic import Field

from rlrec import tables
from rlrec.atomic import write_json, write_text
from rlrec.crossdomain.config import MarcoExperimentConfig
from rlrec.data import DataConfig, Dataset, format_summary, load_dataset, summarize
from rlrec.data.registry import cache_folder
from rlrec.interactive.env import QuitConfig
from rlrec.interactive.evaluate import METRICS, EvaluationConfig, evaluate_policy
from rlrec.interactive.evaluate import summarize as summarize_seeds
from rlrec.interactive.experiment_config import InteractiveConfig
from rlrec.interactive.references import LLM_POLICIES, expert_episodes, reference_policy
from rlrec.interactive.world.world_builder import make_world_model
from rlrec.interactive.world.worldmodel import WorldModel, standard_users
from rlrec.runs import Run, create_run
from rlrec.runtime import apply_threads
from rlrec.seeding import seed_everything

log = logging.getLogger("rlrec")


class ExperimentConfig(InteractiveConfig):
    """A whole experiment: the IL-Rec side (`InteractiveConfig`: run name, seed and the config
    of each IL-Rec stage) and, optionally, MARCO in the same run."""

    marco: MarcoExperimentConfig | None = Field(
        None, description="MARCO in the same run (the quickstart); `name`/`runs_dir` are set"
    )


def start_run(cfg: ExperimentConfig) -> Run:
    """Seed, set threads, and open the run directory with its resolved config and manifest."""
    seed_everything(cfg.seed)
    apply_threads()
    return create_run(cfg.runs_dir, cfg.name, cfg, seed=cfg.seed)


def data_stage(cfg: DataConfig, run: Run) -> tuple[Dataset, dict[str, Any]]:
    """Load the dataset (through the cache) and write its summary into `<run>/data/`."""
    ds = load_dataset(cfg)
    stage = run.stage("data", params=cfg, inputs={"dataset": cache_folder(cfg) / "manifest.json"})
    if stage.cached:
        return ds, json.loads(stage.path("summary.json").read_text(encoding="utf-8"))
    summary = summarize(ds)
    outputs = [
        write_json(stage.path("summary.json"), summary),
        write_text(stage.path("summary.txt"), format_summary(summary) + "\n"),
    ]
    stage.complete(outputs, summary={k: summary[k] for k in ("users", "items", "interactions")})
    return ds, summary


def worldmodel_stage(cfg: ExperimentConfig, ds: Dataset, run: Run) -> WorldModel:
    """Fit the world model and calibrate: mean episode length of random and greedy policies."""
    stage = run.stage(
        "worldmodel",
        params={"worldmodel": cfg.worldmodel, "quit": cfg.evaluation.quit},
        inputs={
            "dataset": cache_folder(cfg.data) / "manifest.json",
            **{f"calibration-{s}": c.trajectories for s, c in cfg.worldmodel.calibration.items()},
        },
    )
    if stage.cached:
        return WorldModel.load(stage.dir)
    world = make_world_model(ds, cfg.worldmodel, run=run, low_reward=cfg.evaluation.quit.low_reward)
    world.meta["episode_length"] = calibrate(world, ds, cfg)
    lengths = world.meta["episode_length"]
    log.info(
        "worldmodel: mean episode length of naive policies: random %.2f, greedy %.2f "
        "(threshold %.4f)",
        lengths["random"],
        lengths["greedy"],
        world.distance_threshold,
    )
    files = world.save(stage.dir)
    stage.complete(files, summary=_world_summary(world))
    return WorldModel.load(stage.dir)


def world_stages(cfg: ExperimentConfig) -> tuple[Run, Dataset, WorldModel]:
    """Open the run and run (or reuse) its data and world-model stages."""
    run = start_run(cfg)
    ds, _ = data_stage(cfg.data, run)
    return run, ds, worldmodel_stage(cfg, ds, run)


def demos_stage(
    cfg: ExperimentConfig, run: Run, world: WorldModel, users: int | None, out: Path | None = None
) -> tuple[Path, dict[str, Any]]:
    """Let the LLM expert write demonstrations for the first `users` train users (a seeded
    order; all if None) into `out` (default `study.demos` or <run>/demos/<mode>-<actor>.jsonl).
    The store resumes by itself: users already finished are skipped, so this always runs."""
    from rlrec.interactive.llm.generate import build_agent, generate_demos

    rows, quit, path = demos_plan(cfg, run, world, users, out)
    path.parent.mkdir(parents=True, exist_ok=True)
    agent = build_agent(world, cfg.llm, cfg.agent, cfg.seed)
    return path, generate_demos(world, agent, path, users=rows, quit=quit)


def demos_plan(
    cfg: ExperimentConfig, run: Run, world: WorldModel, users: int | None, out: Path | None
) -> tuple[list[int], QuitConfig, Path]:
    """(train rows, quit rule, store path) of a demonstration run, local or distributed."""
    from rlrec.interactive.study import demos_path

    return (*expert_episodes(cfg, world, users), out or demos_path(cfg, run))


def calibrate(world: WorldModel, ds: Dataset, cfg: ExperimentConfig) -> dict[str, float]:
    """Mean episode length on the standard test users of unguarded random and greedy policies:
    how the simulator's quit rule treats a naive policy (compare BiLLP: agents last ~8-17 turns).
    """
    from rlrec.interactive.learners.baselines.heuristics import make_heuristic

    ev = EvaluationConfig(
        n_users=cfg.evaluation.n_users, seeds=[cfg.seed], quit=cfg.evaluation.quit
    )
    out = {}
    for name in ("random", "greedy"):
        policy = make_heuristic(name, world, ds.interactions, ev.quit.low_reward, guard=False)
        out[name] = summarize_seeds(evaluate_policy(policy, world, ev))["Len"]["mean"]
    return out


def _world_summary(world: WorldModel) -> dict[str, Any]:
    metrics = world.meta.get("metrics", {})
    summary = {
        "source": world.meta.get("source"),
        "model": world.meta.get("model"),
        "implicit": world.meta.get("implicit"),
        "users": {s: len(u) for s, u in world.users.items()},
        "items": world.n_items,
        "heldout": metrics.get("ensemble"),
        "heldout_global_mean": metrics.get("global_mean"),
        "distance_threshold": world.distance_threshold,
        "episode_length": world.meta.get("episode_length"),
    }
    return {k: v for k, v in summary.items() if v is not None}


def _llm_params(cfg: ExperimentConfig, policies: list[str]) -> dict[str, Any]:
    """What an LLM policy's results depend on beyond the evaluation protocol."""
    if not set(policies) & set(LLM_POLICIES):
        return {}
    return {"llm": cfg.llm, "agent": cfg.agent, "llm_train_users": cfg.llm_train_users}


def evaluate_stage(
    cfg: ExperimentConfig, ds: Dataset, world: WorldModel, run: Run, policies: list[str]
) -> list[dict[str, Any]]:
    """Evaluate `policies` (heuristics, `llm-<mode>`) on the standard test users, each in its
    own cached stage `evaluate-<mode>/<policy>` (a killed run keeps the finished policies; a
    later command with other policies reuses them); write their md/csv/json table."""
    ev = cfg.evaluation
    users = standard_users(world.users["test"], ev.n_users, ev.user_seed)
    rows = [evaluate_one(cfg, ds, world, run, name, users) for name in policies]
    folder = run.dir / f"evaluate-{ev.mode}"
    write_json(folder / "standard_users.json", users.tolist())
    write_text(folder / "results.json", tables.to_json(rows))
    write_text(folder / "results.md", evaluation_markdown(rows, cfg) + "\n")
    write_text(folder / "results.csv", tables.to_csv(rows, list(METRICS)))
    return rows


def evaluate_one(
    cfg: ExperimentConfig, ds: Dataset, world: WorldModel, run: Run, name: str, users: Any
) -> dict[str, Any]:
    """One policy's row of the evaluation table (cached)."""
    ev = cfg.evaluation
    stage = run.stage(
        f"evaluate-{ev.mode}/{name}",
        params={"evaluation": ev, "policy": name, **_llm_params(cfg, [name])},
        inputs={"worldmodel": run.outputs("worldmodel")["key"]},
    )
    if stage.cached:
        return json.loads(stage.path("row.json").read_text(encoding="utf-8"))
    policy = reference_policy(name, world, ds, cfg)
    per_seed = evaluate_policy(policy, world, ev, users)
    label = "oracle (upper bound)" if name == "oracle" else name
    row = {"method": label, **summarize_seeds(per_seed), "per_seed": per_seed}
    if hasattr(policy, "cost"):  # LLM agents: latency and tokens per recommendation
        row.update(policy.cost())
    log.info("evaluate %s: R_traj %.3f", label, row["R_traj"]["mean"])
    stage.complete(
        [write_json(stage.path("row.json"), row)], summary={"R_traj": row["R_traj"]["mean"]}
    )
    return row


def evaluation_markdown(rows: list[dict[str, Any]], cfg: ExperimentConfig) -> str:
    """The evaluation table with a caption that states data, users, seeds and mode."""
    ev = cfg.evaluation
    caption = (
        f"Data `{cfg.data.name}`, world model `{cfg.worldmodel.model}`; "
        f"{ev.n_users} standard test users (shuffle seed {ev.user_seed}); "
        f"seeds {ev.seeds}; mode `{ev.mode}`; {'greedy' if ev.greedy else 'sampled'} actions; "
        "mean ± std over seeds; terminal step counted."
    )
    return tables.to_markdown(rows, table_columns(rows)) + "\n\n" + caption


def table_columns(rows: list[dict[str, Any]]) -> list[str]:
    """The evaluation table's columns; the LLM agents add their cost per recommendation."""
    columns = ["Len", "R_each", "R_traj", "coverage"]
    if any("latency_s_per_step" in r for r in rows):
        columns += ["latency_s_per_step", "tokens_per_step", "llm_chosen_share"]
    return columns
