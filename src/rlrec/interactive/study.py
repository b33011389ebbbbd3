"""The IL-Rec experiment: IL-Rec, its ablations, the RL baselines, the LLM expert and the
heuristics, trained over several seeds on one world model and evaluated with one protocol into
one results table (Markdown / CSV / JSON) with learning curves (PNG).

Stages, each cached and resumable in the run directory (`rlrec.runs`):

    data -> worldmodel -> train/<method>/seed<k> ... -> results

- `train/<method>/seed<k>`: trains one learner with `training.fit`; checkpoints every
  `study.checkpoint_every` units into the stage folder, so a killed run resumes where it was;
  writes `policy.pt` (the final checkpoint), `curve.json`, and `metrics.json` (its evaluation).
- Online learners (IL-Rec and its ablations, DQN, A2C, DORL) all get `ilrec.train_episodes`
  episodes; offline learners (BC, SQN, BCQ, CQL, CRR) get `study.offline_updates` updates.
- Evaluation: the standard test users (`evaluation.n_users`), one episode each; a learner
  trained with seed k is evaluated with sampling seed k, so mean ± std over the seeds covers
  training and evaluation randomness. Heuristics use `evaluation.seeds`. No model selection:
  every learner is evaluated at the end of its budget (its last iterate).
- The LLM expert: the agent of `llm` / `agent` evaluated live on `study.llm_users` users and
  `study.llm_seeds` (an LLM step costs seconds on a CPU), or, with `study.llm_expert: demos`,
  the demonstrations' own world-model statistics on their train users (imported GPT-3.5
  trajectories, whose LLM cannot be run here).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from rlrec import tables
from rlrec.atomic import write_json, write_text
from rlrec.data.dataset import Dataset
from rlrec.errors import ConfigError, DataError
from rlrec.interactive.demos.store import DemoStore
from rlrec.interactive.evaluate import (
    add_other_mode,
    evaluate_modes,
    evaluate_policy,
    mode_key,
    other_mode,
    summarize,
)
from rlrec.interactive.experience.offline_data import (
    Demonstrations,
    demo_transitions,
    logged_transitions,
)
from rlrec.interactive.experience.transitions import Transitions
from rlrec.interactive.experiment_config import (
    ABLATIONS,
    ILREC_VARIANTS,
    InteractiveConfig,
    StudyConfig,
)
from rlrec.interactive.learners.baselines import BASELINES, data_source, make_baseline
from rlrec.interactive.learners.ilrec import ILRec
from rlrec.interactive.learners.training import CHECKPOINT, Learner, fit, restore
from rlrec.interactive.references import reference_policy
from rlrec.interactive.world.worldmodel import WorldModel
from rlrec.runs import Run

log = logging.getLogger("rlrec")

COLUMNS = ["Len", "R_each", "R_traj", "coverage"]


# ----------------------------------------------------------------------------- data
def demos_path(cfg: InteractiveConfig, run: Run) -> Path:
    return cfg.study.demos or run.dir / "demos" / f"{cfg.agent.mode}-{cfg.agent.actor_mode}.jsonl"


def load_demos(cfg: InteractiveConfig, run: Run, world: WorldModel) -> Demonstrations:
    path = demos_path(cfg, run)
    if not path.is_file():
        raise DataError(
            f"no demonstrations at {path}: write them with `rlrec demos generate` (or `rlrec "
            "demos import-billp`), or point study.demos at a store"
        )
    demos = demo_transitions(DemoStore.read(path), world, cfg.ilrec.window)
    log.info("demonstrations: %s", json.dumps(demos.info))
    return demos


def needs(method: str, cfg: InteractiveConfig) -> str:
    """What `method` learns from: "simulator", "logs" or "demos"."""
    if method in ILREC_VARIANTS:
        return "simulator"
    return data_source(method, cfg.baselines)


# ----------------------------------------------------------------------------- learners
def make_learner(
    method: str,
    cfg: InteractiveConfig,
    world: WorldModel,
    seed: int,
    demos: Transitions | None,
    logged: Transitions | None,
) -> Learner:
    quit = cfg.evaluation.quit
    if method in ILREC_VARIANTS:
        ilrec_cfg = cfg.ilrec.model_copy(update=ILREC_VARIANTS[method])
        embedder = None
        if ilrec_cfg.features == "text":  # the state-action text, embedded by all-MiniLM-L6-v2
            from rlrec.interactive.text.embeddings import SentenceEmbedder

            embedder = SentenceEmbedder()
        use = demos if ilrec_cfg.use_demos else None
        learner = ILRec(world, ilrec_cfg, seed, use, quit, text_embedder=embedder)
        learner.name = method
        return learner
    baselines = cfg.baselines
    sub = getattr(baselines, method)
    if "quit" in type(sub).model_fields:  # online learners train under the evaluation's rule
        baselines = baselines.model_copy(update={method: sub.model_copy(update={"quit": quit})})
    return make_baseline(method, world, baselines, seed, logged, demos)


def budget(learner: Learner, cfg: InteractiveConfig) -> int:
    return cfg.ilrec.train_episodes if learner.unit == "episodes" else cfg.study.offline_updates


def train_stage(
    cfg: InteractiveConfig,
    run: Run,
    world: WorldModel,
    method: str,
    seed: int,
    data: dict[str, Transitions | None],
    inputs: dict[str, Any],
) -> tuple[Learner, list[dict[str, float]], dict[str, list[float]]]:
    """Train (or resume, or reuse) `method` with `seed`; evaluate it on the test users."""
    learner = make_learner(method, cfg, world, seed, data.get("demos"), data.get("logs"))
    n = budget(learner, cfg)
    params = {
        "method": method,
        "seed": seed,
        "budget": n,
        "ilrec": cfg.ilrec,
        "baselines": cfg.baselines,
        "evaluation": cfg.evaluation,
    }
    version = getattr(learner, "state_version", 1)
    if version > 1:  # version 1 adds nothing: stages trained before versions existed stay valid
        params["state_version"] = version
    stage = run.stage(f"train/{method_slug(method)}/seed{seed}", params=params, inputs=inputs)
    folder = stage.dir / f"state-{stage.key[:12]}"  # a checkpoint of other params never resumes
    if stage.cached:
        restore(learner, stage.dir / "policy.pt")
        curve = json.loads(stage.path("curve.json").read_text(encoding="utf-8"))
        per_seed = json.loads(stage.path("metrics.json").read_text(encoding="utf-8"))
        ev = cfg.evaluation.model_copy(update={"seeds": [seed]})
        return learner, curve, add_other_mode(per_seed, learner.policy(), world, ev)
    folder.mkdir(parents=True, exist_ok=True)
    curve = fit(learner, n, folder=folder, checkpoint_every=cfg.study.checkpoint_every)
    ev = cfg.evaluation.model_copy(update={"seeds": [seed]})
    per_seed = evaluate_modes(learner.policy(), world, ev)
    policy_file = stage.path("policy.pt")
    policy_file.write_bytes((folder / CHECKPOINT).read_bytes())
    outputs = [
        policy_file,
        write_json(stage.path("curve.json"), curve),
        write_json(stage.path("metrics.json"), per_seed),
    ]
    stage.complete(outputs, summary={"R_traj": per_seed["R_traj"][0], "Len": per_seed["Len"][0]})
    return learner, curve, per_seed


def trained_learner(
    cfg: InteractiveConfig,
    run: Run,
    ds: Dataset,
    world: WorldModel,
    method: str,
    seed: int | None = None,
) -> Learner:
    """The learner of a finished `train/<method>/seed<seed>` stage (default: the experiment's
    seed); an error naming the command to run if there is none."""
    seed = cfg.seed if seed is None else seed
    path = policy_path(run, method, seed)
    if not path.is_file():
        raise DataError(
            f"no trained {method} in {run.dir} (seed {seed}): run `rlrec "
            f"{'ilrec train' if method == 'il-rec' else 'baselines train --algo ' + method}` first"
        )
    learner = make_learner(method, cfg, world, seed, *_datasets(cfg, run, ds, world, method))
    restore(learner, path)
    return learner


def policy_path(run: Run, method: str, seed: int) -> Path:
    """The final checkpoint of `train/<method>/seed<seed>`."""
    return run.dir / "train" / method_slug(method) / f"seed{seed}" / "policy.pt"


def _datasets(
    cfg: InteractiveConfig, run: Run, ds: Dataset, world: WorldModel, method: str
) -> tuple[Transitions | None, Transitions | None]:
    data, _, _ = prepare_data(cfg, run, ds, world, [method])
    return data.get("demos"), data.get("logs")


def method_slug(method: str) -> str:
    """`method` as a folder name (`il-rec (parity)` -> `il-rec_parity`)."""
    return method.replace(" ", "_").replace("/", "").replace("(", "").replace(")", "")


# ----------------------------------------------------------------------------- the study
def prepare_data(
    cfg: InteractiveConfig, run: Run, ds: Dataset, world: WorldModel, methods: list[str]
) -> tuple[dict[str, Transitions | None], dict[str, Any], Demonstrations | None]:
    """(datasets by source, stage inputs, demonstrations) that `methods` need."""
    data: dict[str, Transitions | None] = {}
    inputs: dict[str, Any] = {"worldmodel": run.outputs("worldmodel")["key"]}
    sources = {needs(m, cfg) for m in methods}
    demos = None
    if "demos" in sources or any(m in ILREC_VARIANTS for m in methods):
        demos = load_demos(cfg, run, world)
        data["demos"] = demos.transitions
        inputs["demos"] = demos_path(cfg, run)
    if "logs" in sources:
        data["logs"] = logged_transitions(
            world, ds.interactions, cfg.ilrec.window, cfg.evaluation.quit.max_turns
        )
    return data, inputs, demos


def train_one(
    cfg: InteractiveConfig, run: Run, ds: Dataset, world: WorldModel, method: str
) -> tuple[Learner, list[dict[str, float]], dict[str, list[float]]]:
    """`train_stage` for one method with the experiment's seed (`rlrec ilrec train`,
    `rlrec baselines train`)."""
    if method not in ILREC_VARIANTS and method not in BASELINES:
        raise ConfigError(
            f"unknown method {method!r}; known: {', '.join([*ILREC_VARIANTS, *BASELINES])}"
        )
    data, inputs, _ = prepare_data(cfg, run, ds, world, [method])
    return train_stage(cfg, run, world, method, cfg.seed, data, inputs)


def run_study(
    cfg: InteractiveConfig, run: Run, ds: Dataset, world: WorldModel
) -> list[dict[str, Any]]:
    """Every method x seed, then the table and the curves; returns the table's rows."""
    from rlrec.plots import learning_curves

    study: StudyConfig = cfg.study
    methods = study.methods_to_run()
    data, inputs, demos = prepare_data(cfg, run, ds, world, methods)
    for method in methods:  # configuration errors surface before hours of training
        make_learner(method, cfg, world, 0, data.get("demos"), data.get("logs"))
    rows, curves = [], {}
    for method in methods:
        per_seed: dict[str, list[float]] = {}
        for seed in study.seeds:
            _, curve, metrics = train_stage(cfg, run, world, method, seed, data, inputs)
            curves.setdefault(method, []).append(curve)
            for key, values in metrics.items():
                per_seed.setdefault(key, []).extend(values)
            log.info("%s seed %d: R_traj %.3f", method, seed, metrics["R_traj"][0])
        rows.append(_row(method, per_seed, needs(method, cfg)))
    rows += reference_rows(cfg, ds, world, demos)
    return write_results(cfg, run, rows, curves, demos and demos.info, learning_curves)


def _row(method: str, per_seed: dict[str, list[float]], source: str) -> dict[str, Any]:
    return {"method": method, "learns from": source, **summarize(per_seed), "per_seed": per_seed}


def reference_rows(
    cfg: InteractiveConfig, ds: Dataset, world: WorldModel, demos: Demonstrations | None
) -> list[dict[str, Any]]:
    """The heuristics and the LLM expert, evaluated with the same protocol."""
    rows = []
    for name in cfg.study.heuristics:
        per_seed = evaluate_modes(reference_policy(name, world, ds, cfg), world, cfg.evaluation)
        rows.append(_row(name, per_seed, "-"))
    if cfg.study.llm_expert == "live":
        ev = cfg.evaluation.model_copy(
            update={"n_users": cfg.study.llm_users, "seeds": cfg.study.llm_seeds}
        )
        policy = reference_policy("llm-billp", world, ds, cfg)
        label = f"LLM expert ({cfg.llm.backend}, {cfg.study.llm_users} users)"
        per_seed = evaluate_policy(policy, world, ev)
        rows.append({**_row(label, per_seed, "in-context"), **policy.cost()})
    elif cfg.study.llm_expert == "demos" and demos is not None:
        rows.append(_demo_row(world, demos))
    recorded = recorded_run_row(world)
    if recorded is not None:
        rows.append(recorded)
    return rows


def recorded_run_row(world: WorldModel) -> dict[str, Any] | None:
    """The recorded agent run the evaluation world was calibrated to, as recorded (its own
    ratings, on the evaluation users; its quit step carries no reward), or None without one.
    Beside the demonstrations' row, which is scored in the train world, this is the expert's
    row in the world every other row is evaluated in."""
    calibration = world.meta.get("calibration", {}).get("test")
    if calibration is None:
        return None
    report = calibration["report"]
    per_seed = {
        "Len": [float(report["length"]["recorded_mean"])],
        "R_traj": [float(report["recorded_R_traj"])],
        "R_each": [float(report["reward"]["recorded_mean"])],
    }
    label = f"LLM expert: its recorded evaluation run ({report['trajectories']} users, as recorded)"
    return _row(label, per_seed, "-")


def _demo_row(world: WorldModel, demos: Demonstrations) -> dict[str, Any]:
    """The demonstrations' own Len / R_each / R_traj under the world model's train rewards."""
    t, info = demos.transitions, demos.info
    episode = np.unique(t.episodes, return_inverse=True)[1]
    lengths = np.bincount(episode).astype(float)
    returns = np.bincount(episode, weights=t.rewards)
    per_seed = {
        "Len": [float(lengths.mean())],
        "R_traj": [float(returns.mean())],
        "R_each": [float(returns.sum() / lengths.sum())],
        "coverage": [len(np.unique(t.actions)) / world.n_items],
    }
    label = f"LLM expert: its demos ({info.get('model')}, {info['episodes']} train episodes)"
    return _row(label, per_seed, "-")


def write_results(
    cfg: InteractiveConfig,
    run: Run,
    rows: list[dict[str, Any]],
    curves: dict[str, list[list[dict[str, float]]]],
    demo_info: dict[str, Any] | None,
    plot: Any,
) -> list[dict[str, Any]]:
    folder = run.dir / "results"
    columns = [*COLUMNS, *paired_columns(cfg.evaluation.mode, rows)]
    if any("latency_s_per_step" in r for r in rows):
        columns += ["latency_s_per_step", "llm_chosen_share"]
    table = tables.to_markdown(rows, ["learns from", *columns])
    write_text(folder / "results.md", f"{table}\n\n{results_caption(cfg, demo_info)}\n")
    write_text(folder / "results.csv", tables.to_csv(rows, columns))
    write_text(folder / "results.json", tables.to_json(rows))
    plot(curves, folder / "curves_return.png", "return", title=f"{cfg.name}: training return")
    plot(curves, folder / "curves_length.png", "length", title=f"{cfg.name}: episode length")
    return rows


def paired_columns(mode: str, rows: list[dict[str, Any]]) -> list[str]:
    """Len and R_traj in the mode shown beside `mode` (free <-> no-repeat), where measured."""
    second = other_mode(mode)
    columns = [] if second is None else [mode_key("Len", second), mode_key("R_traj", second)]
    return [c for c in columns if any(c in r for r in rows)]


def results_caption(cfg: InteractiveConfig, demo_info: dict[str, Any] | None) -> str:
    ev, study = cfg.evaluation, cfg.study
    lines = [
        f"Data `{cfg.data.name}`, world model `{cfg.worldmodel.model}` "
        f"(x{cfg.worldmodel.n_ensemble}); {ev.n_users} standard test users (shuffle seed "
        f"{ev.user_seed}), one episode each, {'greedy' if ev.greedy else 'sampled'} actions "
        f"(value-based learners act greedily), mode `{ev.mode}`, terminal step counted"
        + _paired_note(ev.mode),
        f"Learners: training seeds {study.seeds}, each evaluated once with its own seed; "
        f"{cfg.ilrec.train_episodes} episodes (online) or {study.offline_updates} updates "
        "(offline); the last iterate is evaluated, no model selection. Heuristics: "
        f"evaluation seeds {ev.seeds}. Mean ± std over seeds.",
    ]
    if demo_info:
        lines.append(
            f"Demonstrations: {demo_info['episodes']} episodes, {demo_info['transitions']} "
            f"transitions from {demo_info['model']} ({demo_info['backend']}); rewards = the "
            "world model's train rewards."
        )
    if study.llm_expert == "live":
        trained = (
            f", after {cfg.llm_train_users} training episodes (train users, the demo users first)"
            if cfg.llm_train_users
            else ", with empty memories"
        )
        lines.append(
            f"LLM expert: {study.llm_users} users, seeds {study.llm_seeds}{trained} (CPU cost "
            "per step in its row)."
        )
    return "\n".join(lines)


def _paired_note(mode: str) -> str:
    second = other_mode(mode)
    if second is None:
        return "."
    return (
        f"; columns `[{second}]`: the same policies in mode `{second}` (`free`: the quit rule "
        "alone, repeats allowed; `no-repeat`: items already recommended in the episode are "
        "forbidden, so cycling a few good items cannot win)."
    )


__all__ = [
    "ABLATIONS",
    "COLUMNS",
    "ILREC_VARIANTS",
    "StudyConfig",
    "load_demos",
    "make_learner",
    "method_slug",
    "policy_path",
    "prepare_data",
    "run_study",
    "train_one",
    "train_stage",
    "trained_learner",
]
