"""The `rlrec` command. Subcommands are thin: parse the config, call a stage, print the result.

Errors a user can cause (`RlrecError`: bad path, malformed file, bad config, unknown name) print
one line `error: ...` and exit with status 2, never a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from rlrec import __version__
from rlrec.errors import ConfigError, DataError, RlrecError

app = typer.Typer(
    name="rlrec",
    help="Reinforcement-learning recommender systems: IL-Rec and MARCO.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(
    help="Datasets: list, fetch into the cache, summarise.", no_args_is_help=True
)
config_app = typer.Typer(help="Experiment configs.", no_args_is_help=True)
worldmodel_app = typer.Typer(help="World models: the simulated user.", no_args_is_help=True)
bench_app = typer.Typer(help="Speed and quality benchmarks (JSON out).", no_args_is_help=True)
demos_app = typer.Typer(
    help="Demonstrations: LLM trajectories for imitation.", no_args_is_help=True
)
app.add_typer(data_app, name="data")
app.add_typer(config_app, name="config")
app.add_typer(worldmodel_app, name="worldmodel")
app.add_typer(bench_app, name="bench")
app.add_typer(demos_app, name="demos")
ilrec_app = typer.Typer(help="IL-Rec: the imitation-enhanced RL policy.", no_args_is_help=True)
baselines_app = typer.Typer(help="The learned RL baselines of IL-Rec.", no_args_is_help=True)
experiment_app = typer.Typer(
    help="Whole experiments: every method over several seeds, one table.", no_args_is_help=True
)
app.add_typer(ilrec_app, name="ilrec")
app.add_typer(baselines_app, name="baselines")
app.add_typer(experiment_app, name="experiment")


def _register_other_commands() -> None:
    """`rlrec serve`, `bench serve`, `sweep` (home: `rlrec.serve_cli`) and `rlrec marco ...`
    (home: `rlrec.crossdomain.cli`)."""
    from rlrec import serve_cli
    from rlrec.crossdomain.cli import marco_app

    app.command("export")(serve_cli.export)
    app.command("serve")(serve_cli.serve)
    bench_app.command("serve")(serve_cli.bench_serve)
    app.command("sweep")(serve_cli.sweep)
    app.add_typer(marco_app, name="marco")


_register_other_commands()

Overrides = Annotated[
    list[str] | None,
    typer.Argument(help="config overrides key=value (nested keys with dots, e.g. data.kcore=5)"),
]
DataOverrides = Annotated[
    list[str] | None,
    typer.Argument(
        help="data config overrides key=value, e.g. kcore=5 'domains=[Books]' "
        "rating_scale=[1,10] (a data. prefix is accepted: data.kcore=5)"
    ),
]
ConfigFile = Annotated[
    Path | None, typer.Option("--config", "-c", help="experiment YAML file (see configs/)")
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


def _data_config(name: str, path: Path | None, strict: bool, overrides: list[str] | None):
    from rlrec.config import apply_overrides, validate
    from rlrec.data import DataConfig

    base = {"name": name, "strict": strict, **({"path": str(path)} if path else {})}
    plain = [o.removeprefix("data.") for o in overrides or []]  # as in an experiment config
    return validate(DataConfig, apply_overrides(base, plain), source="data config")


@data_app.command("list")
def data_list() -> None:
    """List the datasets rlrec knows."""
    from rlrec.data import registry

    specs = registry()
    width = max(len(n) for n in specs)
    for name, spec in sorted(specs.items()):
        needs = "  (needs --path)" if spec.needs_path else ""
        typer.echo(f"{name:<{width}}  {spec.description}{needs}")


@data_app.command("fetch")
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


@data_app.command("info")
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


@data_app.command("prepare")
def data_prepare(config: ConfigFile = None, overrides: Overrides = None) -> None:
    """Run the data stage of an experiment: run directory, manifest, dataset summary."""
    from rlrec.data import format_summary
    from rlrec.experiment import data_stage, start_run

    cfg = _experiment(config, overrides)
    run = start_run(cfg)
    _, summary = data_stage(cfg.data, run)
    typer.echo(format_summary(summary))
    typer.echo(f"\nrun directory: {run.dir}")


@worldmodel_app.command("train")
def worldmodel_train(config: ConfigFile = None, overrides: Overrides = None) -> None:
    """Fit the world model of an experiment (data stage first) and report its quality."""
    from rlrec.experiment import world_stages

    cfg = _experiment(config, overrides)
    run, _ds, world = world_stages(cfg)
    typer.echo(json.dumps(run.outputs("worldmodel")["summary"], indent=2))
    typer.echo(f"\nworld model: {run.dir / 'worldmodel'} ({world.n_items:,} items)")


@app.command("evaluate")
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
    cfg = _experiment(config, overrides)
    run, ds, world = world_stages(cfg)
    rows = evaluate_stage(cfg, ds, world, run, names)
    typer.echo(tables.to_text(rows, table_columns(rows)))
    typer.echo(f"\ntables: {run.dir / ('evaluate-' + cfg.evaluation.mode)}/results.{{md,csv,json}}")


def _train_and_report(config: Path | None, overrides: list[str] | None, method: str) -> None:
    from rlrec import tables
    from rlrec.experiment import world_stages
    from rlrec.interactive.evaluate import summarize
    from rlrec.interactive.study import train_one

    cfg = _experiment(config, overrides)
    run, ds, world = world_stages(cfg)
    learner, curve, per_seed = train_one(cfg, run, ds, world, method)
    last = curve[-1] if curve else {}
    typer.echo(f"{method}: {last.get(learner.unit, 0):,} {learner.unit}; final training row:")
    typer.echo(json.dumps({k: round(v, 4) for k, v in last.items()}, indent=2))
    row = {"method": method, **summarize(per_seed)}
    typer.echo("\n" + tables.to_text([row], ["Len", "R_each", "R_traj", "coverage"]))
    typer.echo(f"(test users, evaluation seed {cfg.seed}; stage folder under {run.dir / 'train'})")


@ilrec_app.command("train")
def ilrec_train(config: ConfigFile = None, overrides: Overrides = None) -> None:
    """Train IL-Rec (config `ilrec`) on the experiment's world model and demonstrations."""
    _train_and_report(config, overrides, "il-rec")


@ilrec_app.command("evaluate")
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

    cfg = _experiment(config, overrides)
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


@experiment_app.command("ilrec")
def experiment_ilrec(config: ConfigFile = None, overrides: Overrides = None) -> None:
    """IL-Rec, its ablations, the RL baselines, the LLM expert and heuristics over
    `study.seeds`: one table (md/csv/json) and learning curves (PNG) in <run>/results."""
    from rlrec import tables
    from rlrec.experiment import world_stages
    from rlrec.interactive.study import COLUMNS, run_study

    cfg = _experiment(config, overrides)
    run, ds, world = world_stages(cfg)
    rows = run_study(cfg, run, ds, world)
    typer.echo(tables.to_text(rows, ["learns from", *COLUMNS]))
    typer.echo(f"\nresults: {run.dir / 'results'}/results.{{md,csv,json}}, curves_*.png")


@app.command("quickstart")
def quickstart(config: ConfigFile = None, overrides: Overrides = None) -> None:
    """Both methods on MovieLens-100K with the real LLM, then the report (`make demo`)."""
    from rlrec.quickstart import run_quickstart

    cfg = _experiment(config or Path("configs/quickstart.yaml"), overrides)
    path = run_quickstart(cfg, echo=lambda text: typer.echo(text, err=True))
    typer.echo(f"report: {path}")


@app.command("report")
def report(
    run_dir: Annotated[Path, typer.Argument(help="a run directory (runs/<name>)")],
) -> None:
    """Re-render a run's report (report.md, figures, results.json) from its files."""
    from rlrec.report import render_report

    typer.echo(f"report: {render_report(run_dir)}")


@app.command("compare")
def compare(
    run_a: Annotated[Path, typer.Argument(help="first run directory")],
    run_b: Annotated[Path, typer.Argument(help="second run directory")],
) -> None:
    """Two runs' tables side by side (Markdown)."""
    from rlrec.report import compare_runs

    typer.echo(compare_runs(run_a, run_b))


@experiment_app.command("marco")
def experiment_marco(config: ConfigFile = None, overrides: Overrides = None) -> None:
    """MARCO, its parity mode and baselines over targets x beta x seeds: one table with plots
    (config: configs/marco/*.yaml)."""
    from rlrec.crossdomain.cli import experiment_marco as run

    run(config, overrides)


@bench_app.command("marco")
def bench_marco_cmd(
    out: Annotated[Path, typer.Option("--out", help="JSON file to write")] = Path(
        "runs/bench/marco.json"
    ),
    n_users: Annotated[int, typer.Option(help="users per synthetic domain")] = 2_000,
    n_items: Annotated[int, typer.Option(help="items per synthetic domain")] = 1_000,
    repeats: Annotated[int, typer.Option(help="timed repeats per figure")] = 3,
) -> None:
    """MARCO training samples/s and prediction pairs/s, beside the same model in parity mode."""
    from rlrec.bench.marco import bench_marco
    from rlrec.runtime import apply_threads

    _positive(n_users=n_users, n_items=n_items, repeats=repeats)
    apply_threads()
    bench_marco(out, n_users, n_items, repeats)


@bench_app.command("env")
def bench_env_cmd(
    out: Annotated[Path, typer.Option("--out", help="JSON file to write")] = Path(
        "runs/bench/env.json"
    ),
    n_items: Annotated[int, typer.Option(help="catalogue size")] = 13_864,
    seconds: Annotated[float, typer.Option(help="seconds per measured point")] = 1.0,
) -> None:
    """Environment steps per second: single gym env vs vectorised, batch 1..1024."""
    from rlrec.bench import write_bench
    from rlrec.bench.env import bench_env

    _positive(n_items=n_items, seconds=seconds)
    result = bench_env(n_items=n_items, seconds_per_point=seconds, progress=True)
    write_bench(out, result)
    typer.echo(json.dumps(result, indent=2))
    typer.echo(f"\nwritten to {out}")


@bench_app.command("ilrec")
def bench_ilrec_cmd(
    out: Annotated[Path, typer.Option("--out", help="JSON file to write")] = Path(
        "runs/bench/ilrec.json"
    ),
    n_users: Annotated[int, typer.Option(help="simulated users")] = 3_109,
    n_items: Annotated[int, typer.Option(help="catalogue size")] = 13_864,
    episodes: Annotated[int, typer.Option(help="timed training episodes per schedule")] = 2_048,
    requests: Annotated[int, typer.Option(help="timed single-user policy requests")] = 1_000,
    neighbour: Annotated[
        bool, typer.Option(help="also time the default schedule beside a CPU-bound process")
    ] = False,
) -> None:
    """IL-Rec training throughput at Amazon size (episodes/s, env steps/s, update samples/s,
    the paper's 100,000 episodes extrapolated) for rlrec's, the release's and parity's
    schedules, and the policy's batch-1 latency (network and inference path)."""
    from rlrec.bench import write_bench
    from rlrec.bench.ilrec import bench_ilrec
    from rlrec.runtime import apply_threads

    _positive(n_users=n_users, n_items=n_items, episodes=episodes, requests=requests)
    apply_threads()
    result = bench_ilrec(
        n_users, n_items, episodes, requests=requests, neighbour=neighbour, progress=True
    )
    write_bench(out, result)
    typer.echo(json.dumps(result, indent=2))
    typer.echo(f"\nwritten to {out}")


@bench_app.command("llm")
def bench_llm_cmd(
    config: ConfigFile = None,
    out: Annotated[Path, typer.Option("--out", help="JSON file to write")] = Path(
        "runs/bench/llm.json"
    ),
    prompts: Annotated[int, typer.Option(help="raw generation calls")] = 8,
    users: Annotated[int, typer.Option(help="agent episodes: the demonstrations' first users")] = 3,
    compare: Annotated[
        bool, typer.Option(help="also time the earlier agent (generate, separate prompts) first")
    ] = True,
    overrides: Overrides = None,
) -> None:
    """LLM token rates raw vs through the agent, per module and step, every call uncached."""
    from rlrec.bench import write_bench
    from rlrec.bench.llm import bench_llm
    from rlrec.experiment import expert_episodes, world_stages
    from rlrec.interactive.llm.generate import build_agent, train_agent

    cfg = _experiment(config, overrides)
    _run, _ds, world = world_stages(cfg)
    llm = cfg.llm.model_copy(update={"cache": False})
    settings = {"agent": cfg.agent}
    if compare:
        old = cfg.agent.model_copy(update={"actor_mode": "generate", "prompt_style": "separate"})
        settings = {"earlier": old, "agent": cfg.agent}
    agents = {name: build_agent(world, llm, a, cfg.seed) for name, a in settings.items()}
    rows, quit = expert_episodes(cfg, world, users)
    result = bench_llm(
        cfg.llm, prompts, cfg.llm.max_tokens, agents, lambda a: train_agent(world, a, rows, quit)
    )
    write_bench(out, result)
    typer.echo(json.dumps(result, indent=2))
    typer.echo(f"\nwritten to {out}")


@demos_app.command("import-billp")
def demos_import_billp(
    files: Annotated[list[Path], typer.Argument(help="BiLLP trajs_agent JSON files")],
    catalogue: Annotated[
        Path, typer.Option("--catalogue", help="BiLLP folder with datamaps.json (the item ids)")
    ],
    out: Annotated[Path, typer.Option("--out", help="demonstration store (JSONL) to write")],
    grounder: Annotated[
        str, typer.Option(help="grounding of unmatched titles: embedding or ngram")
    ] = "embedding",
    terminal: Annotated[
        str, typer.Option(help="quit-step policy: keep, drop, reward_minus1000, reward_zero")
    ] = "keep",
) -> None:
    """Convert BiLLP's LLM trajectories into a demonstration store, with a report."""
    from rlrec.data.billp import load_billp
    from rlrec.interactive.demos.billp_trajs import import_billp_trajs
    from rlrec.interactive.text.grounding import make_grounder

    for f in files:
        if not f.is_file():
            raise DataError(f"trajectory file not found: {f}")
    dataset = "steam" if files[0].name.startswith("steam") else "amazon"
    items = load_billp(catalogue, dataset).items
    report = import_billp_trajs(files, items, out, make_grounder(items, grounder), terminal)
    typer.echo(json.dumps(report, indent=2, default=str))
    _echo_demos(out)


@demos_app.command("generate")
def demos_generate(
    config: ConfigFile = None,
    users: Annotated[
        int | None, typer.Option("--users", help="first N train users (seeded order; all if unset)")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="demonstration store (default <run>/demos/<mode>.jsonl)"),
    ] = None,
    ray: Annotated[
        bool, typer.Option("--ray", help="spread users over Ray workers (extra `distributed`)")
    ] = False,
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (with --ray; default: a local Ray)")
    ] = None,
    workers: Annotated[int, typer.Option(help="Ray workers (with --ray)")] = 2,
    overrides: Overrides = None,
) -> None:
    """Let the LLM expert (`llm`, `agent` sections) write demonstrations on the world model."""
    if ray:
        from rlrec.serve_cli import demos_generate_ray

        result = demos_generate_ray(config, users, out, workers, True, address, overrides)
        _echo_demos(Path(result["path"]))  # the report is already printed
        return
    from rlrec.experiment import demos_stage, world_stages

    cfg = _experiment(config, overrides)
    run, _ds, world = world_stages(cfg)
    path, result = demos_stage(cfg, run, world, users, out)
    typer.echo(json.dumps(result, indent=2, default=str))
    _echo_demos(path)


def _echo_demos(store_path: Path) -> None:
    """Write the store's transition table for learning beside it, and say where both are."""
    from rlrec.atomic import write_parquet
    from rlrec.interactive.demos.store import DemoStore, transitions

    table = store_path.with_name(store_path.name.removesuffix(".jsonl") + ".transitions.parquet")
    write_parquet(table, transitions(DemoStore.read(store_path)))
    typer.echo(f"\ndemonstrations: {store_path}\ntransitions: {table}")


def _positive(**options: float) -> None:
    """ConfigError naming the first option that is not a positive finite number."""
    for name, value in options.items():
        if not 0 < value < float("inf"):
            raise ConfigError(f"--{name.replace('_', '-')} must be a positive number, got {value}")


def _experiment(config: Path | None, overrides: list[str] | None):
    from rlrec.config import load_config
    from rlrec.experiment import ExperimentConfig

    return load_config(ExperimentConfig, config, overrides or [])


@config_app.command("show")
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
