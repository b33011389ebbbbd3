"""Seed x hyper-parameter sweeps as independent tasks, local or on Ray (`rlrec sweep [--ray]`).

A sweep is methods x settings x seeds. A setting is one point of the grid: the cartesian product
of `{"ilrec.lr": [1e-3, 3e-4], "ilrec.alpha": [0.25, 0.5]}` gives four settings, each a list of
`key=value` overrides of the experiment config. Each (method, setting, seed) is one cell, one task
(one CPU): the learner is trained and evaluated by `study.train_stage`, exactly as `rlrec
experiment ilrec` trains it, in a run directory of its own,

    <run>/sweeps/<name>/<setting>/<method>/seed<k>/train/<method>/seed<k>/{policy.pt,metrics.json}

so cells never share a manifest, resume after a kill, and are reused by a rerun with the same
parameters. The cells read the experiment's world model and demonstrations (which must exist:
the caller runs `world_stages` first). The table (one row per method x setting, mean ± std over
the seeds, per-seed values kept) goes to `<run>/sweeps/<name>/results.{md,csv,json}`.

Methods: IL-Rec and its variants (`il-rec`, `il-rec (parity)`, `il-rec w/o ...`) and the learned
baselines (`bc`, `dqn`, ...). Other families plug in through `register_sweep_method` (the MARCO
hook: `register_sweep_method("marco", SweepMethod(cell=..., columns=["MAE", "RMSE", ...]))`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlrec import tables
from rlrec.atomic import write_text
from rlrec.config import apply_overrides, validate
from rlrec.distributed import map_tasks
from rlrec.errors import ConfigError

__all__ = [
    "SWEEP_METHODS",
    "SweepMethod",
    "register_sweep_method",
    "run_sweep",
    "settings_of",
    "sweep_columns",
    "train_interactive_cell",
]

# A grid may change the learners' hyper-parameters and budgets, never the data, the world model
# or the evaluation protocol (the rows must stay comparable).
SWEEPABLE = ("ilrec.", "baselines.", "study.offline_updates", "study.checkpoint_every")


def train_interactive_cell(
    cfg_json: dict[str, Any], run_dir: str, method: str, seed: int, cell_dir: str
) -> dict[str, list[float]]:
    """One cell of an IL-Rec-side method: train (or resume, or reuse) and evaluate; per-seed
    metrics. The config is the experiment's with the setting's overrides already applied."""
    from rlrec.data import load_dataset
    from rlrec.experiment import ExperimentConfig
    from rlrec.interactive.study import needs, prepare_data, train_stage
    from rlrec.interactive.world.worldmodel import WorldModel
    from rlrec.runs import Run
    from rlrec.runtime import apply_threads

    apply_threads()
    cfg = validate(ExperimentConfig, cfg_json)
    run = Run(Path(run_dir))
    world = WorldModel.load(run.dir / "worldmodel")
    ds = load_dataset(cfg.data) if needs(method, cfg) == "logs" else None
    data, inputs, _ = prepare_data(cfg, run, ds, world, [method])
    cell = Run(Path(cell_dir))
    cell.dir.mkdir(parents=True, exist_ok=True)
    _, _, per_seed = train_stage(cfg, cell, world, method, seed, data, inputs)
    return per_seed


@dataclass(frozen=True)
class SweepMethod:
    """How a family's method runs as a sweep cell, and the metric columns of its rows.

    `cell(cfg_json, run_dir, method, seed, cell_dir) -> {metric: [value]}` must be importable
    by reference (a module-level function) so that Ray can ship it to a worker."""

    cell: Callable[[dict[str, Any], str, str, int, str], dict[str, list[float]]]
    columns: tuple[str, ...]
    sweepable: tuple[str, ...] = SWEEPABLE  # config keys (prefixes) its grid may change


SWEEP_METHODS: dict[str, SweepMethod] = {}  # method name -> how it runs; see `_method`


def register_sweep_method(name: str, method: SweepMethod) -> None:
    """Make `name` sweepable. The MARCO hook: `crossdomain/` registers "marco" (and its
    baselines) here with a cell that trains and evaluates one (setting, seed)."""
    SWEEP_METHODS[name] = method


def _method(name: str) -> SweepMethod:
    from rlrec.interactive.learners.baselines import BASELINES
    from rlrec.interactive.study import COLUMNS, ILREC_VARIANTS

    if name in SWEEP_METHODS:
        return SWEEP_METHODS[name]
    if name in ILREC_VARIANTS or name in BASELINES:
        return SweepMethod(cell=train_interactive_cell, columns=tuple(COLUMNS))
    if name.startswith("marco"):
        raise ConfigError(
            f"{name!r} is not sweepable yet: MARCO registers its cell with "
            "rlrec.distributed.sweep.register_sweep_method"
        )
    known = [*ILREC_VARIANTS, *BASELINES, *SWEEP_METHODS]
    raise ConfigError(f"sweep: unknown method {name!r}; known: {', '.join(known)}")


def sweep_columns(name: str) -> tuple[str, ...]:
    """The metric columns of `name`'s rows (ConfigError for an unknown method)."""
    return _method(name).columns


def settings_of(
    grid: dict[str, Sequence[Any]], sweepable: tuple[str, ...] = SWEEPABLE
) -> list[list[str]]:
    """The grid's points as `key=value` override lists, in grid order (one empty setting for an
    empty grid)."""
    for key, values in grid.items():
        if not key.startswith(sweepable):
            raise ConfigError(f"sweep: {key!r} cannot be swept; sweepable: {', '.join(sweepable)}*")
        if not values:
            raise ConfigError(f"sweep: {key!r} has no values")
    keys = list(grid)
    return [
        [f"{k}={_yaml_value(v)}" for k, v in zip(keys, point, strict=True)]
        for point in itertools.product(*(grid[k] for k in keys))
    ]


def run_sweep(
    cfg: Any,
    run_dir: str | Path,
    methods: Sequence[str],
    seeds: Sequence[int],
    grid: dict[str, Sequence[Any]],
    name: str = "sweep",
    use_ray: bool = False,
    address: str | None = None,
    num_cpus: int | None = None,
) -> list[dict[str, Any]]:
    """Every method x setting x seed as one task (Ray when `use_ray`), then the table; returns
    its rows {"method", "setting", metric: {"mean", "std"}, ..., "per_seed"}."""
    if not methods or not seeds:
        raise ConfigError("sweep: give at least one method and one seed")
    families = {m: _method(m) for m in methods}
    settings = settings_of(
        grid, tuple(dict.fromkeys(p for f in families.values() for p in f.sweepable))
    )
    base = cfg.model_dump(mode="json")
    configs = [
        validate(type(cfg), apply_overrides(base, s), source=f"sweep setting {' '.join(s)}")
        for s in settings
    ]  # every setting is checked before anything runs
    folder = Path(run_dir) / "sweeps" / name
    cells, tasks = [], []
    for method in methods:
        for setting, setting_cfg in zip(settings, configs, strict=True):
            for seed in seeds:
                cell_dir = folder / (_slug(setting) or "default") / _slug([method]) / f"seed{seed}"
                cells.append((method, setting, seed))
                tasks.append(
                    (setting_cfg.model_dump(mode="json"), str(run_dir), method, seed, str(cell_dir))
                )
    results = []
    for method in families:  # one map per family: the cell function is the family's
        picked = [i for i, c in enumerate(cells) if c[0] == method]
        out = map_tasks(
            families[method].cell, [tasks[i] for i in picked], use_ray, address, num_cpus
        )
        results += list(zip(picked, out, strict=True))
    per_cell = dict(results)
    rows = _rows(methods, settings, seeds, cells, per_cell)
    columns = list(dict.fromkeys(c for m in methods for c in families[m].columns))
    _write(folder, rows, columns, cfg, seeds, grid, use_ray)
    return rows


def _rows(methods, settings, seeds, cells, per_cell) -> list[dict[str, Any]]:
    from rlrec.interactive.evaluate import summarize

    rows = []
    for method in methods:
        for setting in settings:
            per_seed: dict[str, list[float]] = {}
            for i, (m, s, _) in enumerate(cells):
                if m == method and s == setting:
                    for key, values in per_cell[i].items():
                        per_seed.setdefault(key, []).extend(values)
            text = " ".join(setting) or "-"
            rows.append(
                {
                    "method": method,
                    "setting": text,
                    **summarize(per_seed),
                    "per_seed": per_seed,
                    "seeds": list(seeds),
                }
            )
    return rows


def _write(folder: Path, rows, columns, cfg, seeds, grid, use_ray: bool) -> None:
    keyed = [{**r, "run": f"{r['method']} [{r['setting']}]"} for r in rows]
    caption = (
        f"Sweep over {dict(grid)} with seeds {list(seeds)} on data `{cfg.data.name}` "
        f"({'Ray' if use_ray else 'local'} tasks). Each cell is trained and evaluated like `rlrec "
        "experiment ilrec` (last iterate, no model selection; the test users of the evaluation "
        "config, each learner with its own seed); mean ± std over seeds."
    )
    write_text(folder / "results.md", tables.to_markdown(keyed, ["setting", *columns]) + "\n\n"
               + caption + "\n")  # fmt: skip
    write_text(folder / "results.csv", tables.to_csv(keyed, columns, key="run"))
    write_text(folder / "results.json", tables.to_json(keyed))


def _yaml_value(value: Any) -> str:
    """A value as the right-hand side of a `key=value` override (YAML flow style)."""
    import yaml

    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("\n...").strip()


def _slug(setting: list[str]) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", "__".join(setting))[:120]
