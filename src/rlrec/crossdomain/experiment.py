"""`rlrec experiment marco` / `rlrec marco run`: stages into a run directory.

    data                                    dataset summary and the domains' sizes
    pretrain/<target>/beta<b>/seed<s>       the split's summary and the per-domain MF tables
    methods/<target>/beta<b>/<method>/seed<s>   one method's metrics, weights and history
    results.{md,csv,json}, plots/*.png, weights.json   the table over every cell
Each stage is cached by its parameters and inputs (rlrec.runs): a killed study resumes at the
first unfinished cell. The split is rebuilt (cheap, deterministic) from the cached data.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from rlrec import tables
from rlrec.atomic import atomic_path, write_json, write_text
from rlrec.crossdomain.config import MarcoExperimentConfig
from rlrec.crossdomain.domains import CrossDomainTask, build_task, domain_interactions
from rlrec.crossdomain.evaluate import rank_metrics, ranking_candidates, rating_metrics
from rlrec.crossdomain.marco import Marco
from rlrec.crossdomain.methods import expand_methods, fit_method
from rlrec.crossdomain.mf import MF, fit_mf
from rlrec.data import load_dataset
from rlrec.data.registry import cache_folder
from rlrec.runs import Run, create_run
from rlrec.runtime import apply_threads, seed_everything

__all__ = ["run_cell", "run_study", "start"]

log = logging.getLogger("rlrec")


def start(cfg: MarcoExperimentConfig) -> tuple[Run, pd.DataFrame]:
    """Seed, set threads, open the run, load the data and write the data stage."""
    seed_everything(cfg.seed)
    apply_threads()
    run = create_run(cfg.runs_dir, cfg.name, cfg, seed=cfg.seed)
    ds = load_dataset(cfg.data)
    inter = domain_interactions(ds, cfg.domains)
    stage = run.stage(
        "data",
        params={"data": cfg.data, "domains": cfg.domains},
        inputs={"dataset": cache_folder(cfg.data) / "manifest.json"},
    )
    if not stage.cached:
        g = inter.groupby("domain")
        summary = {
            "dataset": ds.name,
            "domains": {
                str(d): {"users": int(r.user_id), "items": int(r.item_id), "ratings": int(r.rating)}
                for d, r in g.agg(
                    {"user_id": "nunique", "item_id": "nunique", "rating": "size"}
                ).iterrows()
            },
            "users_in_every_domain": int(
                (g["user_id"].unique().explode().value_counts() == inter["domain"].nunique()).sum()
            ),
        }
        stage.complete([write_json(stage.path("summary.json"), summary)], summary=summary)
    return run, inter


def _slug(name: str) -> str:
    return name.replace("[", "_").replace("]", "").replace("/", "_")


def pretrain_stage(
    run: Run, cfg: MarcoExperimentConfig, inter: pd.DataFrame, target: str, beta: float, seed: int
) -> tuple[CrossDomainTask, dict[str, MF], str]:
    """The split, the per-domain MF tables (the target MF never sees val/test users) and the
    stage's key (the input of the method cells)."""
    task = build_task(inter, target, beta, seed, cfg.split)
    stage = run.stage(
        f"pretrain/{_slug(target)}/beta{beta}/seed{seed}",
        params={
            "split": cfg.split,
            "mf": cfg.mf,
            "target": target,
            "beta": beta,
            "seed": seed,
            "domains": cfg.domains,
            "data": cfg.data,
        },
        inputs={"dataset": cache_folder(cfg.data) / "manifest.json"},
    )
    if stage.cached:
        state = torch.load(stage.path("mf.pt"), weights_only=True)
        info = json.loads(stage.path("summary.json").read_text(encoding="utf-8"))["mf"]
        mfs = {d: MF(s["user"], s["item"], info[d]) for d, s in state.items()}
        return task, mfs, stage.key
    mfs = {}
    for k, d in enumerate([*task.sources, task.target]):
        ratings = task.target_mf_ratings() if d == task.target else task.ratings[d]
        mfs[d] = fit_mf(ratings, task.n_users, task.n_items(d), cfg.mf, seed * 31 + k)
    with atomic_path(stage.path("mf.pt")) as tmp:
        torch.save({d: m.state() for d, m in mfs.items()}, tmp)
    summary = {**task.summary(), "mf": {d: m.info for d, m in mfs.items()}}
    outputs = [stage.dir / "mf.pt", write_json(stage.path("summary.json"), summary)]
    stage.complete(outputs, summary={"overlapping_users": len(task.co_users)})
    return task, mfs, stage.key


def evaluate_fitted(fitted: Any, task: CrossDomainTask, cfg: MarcoExperimentConfig) -> dict:
    """Rating and ranking metrics on the cold-start test users, and the weights if any."""
    test = task.target_ratings("test")
    out: dict[str, Any] = rating_metrics(
        fitted.predict(test.user, test.item), test.rating, task.rating_range
    )
    ev = cfg.evaluation
    cand = ranking_candidates(task, test, ev.n_negatives, ev.relevance_threshold, task.seed)
    out.update(rank_metrics(cand, fitted.predict, tuple(ev.ks)))
    if hasattr(fitted.model, "weight_summary") and fitted.model.inputs.n_agents > 1:
        out["weights"] = fitted.model.weight_summary(test.user, test.item)
    if "best_on_test" in fitted.info:
        out.update({f"best_on_test_{k}": v for k, v in fitted.info["best_on_test"].items()})
    return out


def run_cell(
    run: Run,
    cfg: MarcoExperimentConfig,
    task: CrossDomainTask,
    mfs: dict[str, MF],
    method: str,
    pretrain_key: str,
) -> dict[str, Any]:
    """Fit and evaluate one method on one task (cached)."""
    stage = run.stage(
        f"methods/{_slug(task.target)}/beta{task.beta}/{_slug(method)}/seed{task.seed}",
        params={
            "method": method,
            "marco": cfg.marco,
            "emcdr": cfg.emcdr,
            "mf": cfg.mf,
            "evaluation": cfg.evaluation,
            "entropy_grid": cfg.study.entropy_grid,
        },
        inputs={"pretrain": pretrain_key},
    )
    if stage.cached:
        return json.loads(stage.path("result.json").read_text(encoding="utf-8"))
    torch.manual_seed(task.seed)
    fitted = fit_method(method, task, mfs, cfg.method_settings(), task.seed)
    result = {
        "method": method,
        "target": task.target,
        "beta": task.beta,
        "seed": task.seed,
        **evaluate_fitted(fitted, task, cfg),
        "info": fitted.info,
    }
    outputs = [write_json(stage.path("result.json"), result)]
    if isinstance(fitted.model, Marco):  # bridges + policy, loadable with weights_only=True
        with atomic_path(stage.path("model.pt")) as tmp:
            torch.save(fitted.model.state_dict(), tmp)
        outputs.append(stage.dir / "model.pt")
    stage.complete(
        outputs,
        summary={k: result[k] for k in ("mae", "rmse")},
    )
    log.info(
        "%s %s beta=%s seed=%s: MAE %.4f RMSE %.4f",
        method,
        task.target,
        task.beta,
        task.seed,
        result["mae"],
        result["rmse"],
    )
    return result


def run_study(cfg: MarcoExperimentConfig, progress: bool = False) -> list[dict[str, Any]]:
    """Every target x beta x seed x method; writes the table, plots and weight summary."""
    run, inter = start(cfg)
    targets = cfg.study.targets or sorted(inter["domain"].unique())
    results = []
    for target in targets:
        for beta in cfg.study.betas:
            for seed in cfg.study.seeds:
                task, mfs, key = pretrain_stage(run, cfg, inter, target, beta, seed)
                for method in expand_methods(cfg.study.methods, task.sources):
                    results.append(run_cell(run, cfg, task, mfs, method, key))
    write_results(run.dir, results, cfg)
    return results


METRIC_KEYS = ("mae", "rmse", "mae_clipped", "rmse_clipped")


def aggregate(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """mean ± std over seeds per (target, beta, method); weights averaged over seeds."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["target"], r["beta"], r["method"]), []).append(r)
    rows = []
    for (target, beta, method), rs in groups.items():
        row: dict[str, Any] = {
            "method": method,
            "target": target,
            "beta": beta,
            "seeds": [r["seed"] for r in rs],
        }
        keys = [k for k, v in rs[0].items() if isinstance(v, float) and k not in ("beta",)]
        for k in keys:
            vals = np.array([r[k] for r in rs], float)
            row[k] = {"mean": float(vals.mean()), "std": float(vals.std())}
        if "weights" in rs[0]:
            names = list(rs[0]["weights"]["mean_weight"])
            row["weights"] = {
                "mean_weight": {
                    n: float(np.mean([r["weights"]["mean_weight"][n] for r in rs])) for n in names
                },
                "entropy": float(np.mean([r["weights"]["entropy"] for r in rs])),
            }
        rows.append(row)
    return rows


def mae_overview(rows: list[dict[str, Any]]) -> str:
    """The table at a glance: mean MAE per method (rows) and target x beta (columns), the
    best of each column in bold; the full tables follow it."""
    cells = list(dict.fromkeys((r["target"], r["beta"]) for r in rows))
    mae = {(r["method"], r["target"], r["beta"]): r["mae"]["mean"] for r in rows if "mae" in r}
    best = {c: min(v for (_, t, b), v in mae.items() if (t, b) == c) for c in cells}
    family: dict[str, int] = {}  # ptupcdr[Action] etc. right after their method
    for r in rows:
        family.setdefault(r["method"].split("[")[0], len(family))
    methods = sorted(
        dict.fromkeys(r["method"] for r in rows),
        key=lambda m: (family[m.split("[")[0]], "[" in m, m),
    )
    lines = [
        "### MAE at a glance (columns: target, beta; mean over seeds; best in bold)",
        "",
        "| method | " + " | ".join(f"{t} {b}" for t, b in cells) + " |",
        "|" + "---|" * (len(cells) + 1),
    ]
    for method in methods:
        values = [mae.get((method, *c)) for c in cells]
        shown = [
            "" if v is None else f"**{v:.3f}**" if v == best[c] else f"{v:.3f}"
            for v, c in zip(values, cells, strict=True)
        ]
        lines.append(f"| {method} | " + " | ".join(shown) + " |")
    return "\n".join(lines)


def write_results(folder: Path, results: list[dict[str, Any]], cfg: MarcoExperimentConfig) -> None:
    rows = aggregate(results)
    columns = [
        c
        for c in (
            *METRIC_KEYS,
            *(f"{m}@{k}" for k in cfg.evaluation.ks for m in ("ndcg", "hr", "recall")),
            "best_on_test_mae",
            "best_on_test_rmse",
        )
        if any(c in r for r in rows)
    ]
    caption = (
        f"Data `{cfg.data.name}`; cold-start users' target ratings; seeds {cfg.study.seeds} "
        "(mean ± std); epoch and lambda_H chosen on the validation users "
        f"(grid {cfg.study.entropy_grid}); best_on_test_* (parity only) = the release's "
        f"min over epochs on test; ranking: relevant test items (rating > "
        f"{cfg.evaluation.relevance_threshold}) + {cfg.evaluation.n_negatives} sampled unrated "
        "items per user."
    )
    md, labelled = [mae_overview(rows), ""], []
    for target, beta in dict.fromkeys((r["target"], r["beta"]) for r in rows):
        part = [r for r in rows if r["target"] == target and r["beta"] == beta]
        md += [f"### target {target}, beta = {beta}", "", tables.to_markdown(part, columns), ""]
        labelled += [{**r, "method": f"{target}|{beta}|{r['method']}"} for r in part]
    weights = [
        {k: r[k] for k in ("method", "target", "beta", "weights")} for r in rows if "weights" in r
    ]
    write_text(folder / "results.md", "\n".join(md) + "\n" + caption + "\n")
    write_text(folder / "results.csv", tables.to_csv(labelled, columns))
    write_text(folder / "results.json", tables.to_json(rows))
    write_json(folder / "weights.json", weights)
    from rlrec.crossdomain.plots import plot_mae, plot_weights

    plot_mae(rows, folder / "plots" / "mae_by_beta.png")
    plot_weights(weights, folder / "plots" / "weights.png")
