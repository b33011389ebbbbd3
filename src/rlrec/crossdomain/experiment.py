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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from rlrec import tables
from rlrec.atomic import atomic_path, write_json, write_text
from rlrec.crossdomain.config import MarcoExperimentConfig
from rlrec.crossdomain.domains import CrossDomainTask, build_task, domain_interactions
from rlrec.crossdomain.evaluate import rank_metrics, ranking_candidates, rating_metrics
from rlrec.crossdomain.marco import Marco
from rlrec.crossdomain.methods import expand_methods, fit_method
from rlrec.crossdomain.mf import MF, fit_domain_mfs
from rlrec.crossdomain.references import REFERENCES, TRUTH_REFERENCES, Truth, load_truth
from rlrec.data import load_dataset
from rlrec.data.registry import cache_folder
from rlrec.runs import Run, create_run
from rlrec.runtime import apply_threads
from rlrec.seeding import seed_everything, torch_rng

__all__ = ["run_cell", "run_study", "start"]

log = logging.getLogger("rlrec")


def start(cfg: MarcoExperimentConfig) -> tuple[Run, pd.DataFrame, Truth | None]:
    """Seed, set threads, open the run, load the data and write the data stage; the planted
    truth when the data is synthetic (reference rows), else None."""
    seed_everything(cfg.seed)
    apply_threads()
    run = create_run(cfg.runs_dir, cfg.name, cfg, seed=cfg.seed)
    ds = load_dataset(cfg.data)
    inter = domain_interactions(ds, cfg.domains)
    truth = load_truth(ds.meta.get("truth"))
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
    return run, inter, truth


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
        mfs = {d: MF(s["user"], s["item"], info[d], s["offset"]) for d, s in state.items()}
        return task, mfs, stage.key
    domains = [*task.sources, task.target]
    mfs = fit_domain_mfs(
        {d: task.target_mf_ratings() if d == task.target else task.ratings[d] for d in domains},
        task.n_users,
        {d: task.n_items(d) for d in domains},
        cfg.mf,
        seed,
    )
    with atomic_path(stage.path("mf.pt")) as tmp:
        torch.save({d: m.state() for d, m in mfs.items()}, tmp)
    summary = {**task.summary(), "mf": {d: m.info for d, m in mfs.items()}}
    outputs = [stage.dir / "mf.pt", write_json(stage.path("summary.json"), summary)]
    stage.complete(outputs, summary={"overlapping_users": len(task.co_users)})
    for line in mf_quality(mfs, warn_only=True):
        log.warning(line)
    return task, mfs, stage.key


def mf_quality(mfs: dict[str, MF], warn_only: bool = False) -> list[str]:
    """A line per domain: the MF's held-out MAE / RMSE next to the damped item mean's on the
    same held-out ratings, and a warning where the MF does not beat it (its user vectors then
    carry nothing a bridge could transfer)."""
    lines = []
    for d, m in mfs.items():
        i = m.info
        if "item_mean_rmse" not in i:
            continue
        worse = i["heldout_rmse"] >= i["item_mean_rmse"]
        if warn_only and not worse:
            continue
        extra = f", k={i['dim']}" + (f", lambda={i['reg']:g}" if "reg" in i else "")
        lines.append(
            f"{'WARNING: ' if worse else ''}{d}: {i['model']} MF held-out MAE "
            f"{i['heldout_mae']:.3f} RMSE {i['heldout_rmse']:.3f} vs item mean MAE "
            f"{i['item_mean_mae']:.3f} RMSE {i['item_mean_rmse']:.3f} "
            f"({i['heldout_ratings']} ratings{extra})"
            + (": the MF does not beat the item mean" if worse else "")
        )
    return lines


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
    truth: Truth | None = None,
) -> dict[str, Any]:
    """Fit and evaluate one method on one task (cached); `truth`: synthetic data's planted
    truth, for the oracle and ideal-transfer reference rows."""
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
    settings = cfg.method_settings()
    settings.truth = truth
    with torch_rng(task.seed):
        fitted = fit_method(method, task, mfs, settings, task.seed)
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
    run, inter, truth = start(cfg)
    targets = cfg.study.targets or sorted(inter["domain"].unique())
    cells = [(t, b, s) for t in targets for b in cfg.study.betas for s in cfg.study.seeds]
    results = []
    with tqdm(total=len(cells), desc="MARCO study", unit="cell", disable=not progress) as bar:
        for target, beta, seed in cells:
            bar.set_postfix_str(f"{target} beta={beta} seed={seed}")
            task, mfs, key = pretrain_stage(run, cfg, inter, target, beta, seed)
            for method in study_methods(cfg, task.sources, truth):
                bar.set_postfix_str(f"{target} beta={beta} seed={seed} {method}")
                results.append(run_cell(run, cfg, task, mfs, method, key, truth))
            bar.update()
    write_results(run.dir, results, cfg)
    return results


def study_methods(
    cfg: MarcoExperimentConfig,
    sources: list[str],
    truth: Truth | None,
    methods: list[str] | None = None,
) -> list[str]:
    """`methods` (default: the study's), then the reference rows not among them (those that
    need a planted truth only when the data has one)."""
    refs = [r for r in cfg.study.references if truth is not None or r not in TRUTH_REFERENCES]
    names = expand_methods(cfg.study.methods if methods is None else methods, sources)
    return names + [r for r in expand_methods(refs, sources) if r not in names]


def weight_lines(rows: list[dict[str, Any]], label: Callable[[dict], str]) -> list[str]:
    """A line per weighted method: its mean weight per source and the weights' entropy."""
    return [
        f"{label(r)}: mean weights "
        + ", ".join(f"{k} {v:.3f}" for k, v in r["weights"]["mean_weight"].items())
        + f"; entropy {r['weights']['entropy']:.3f}"
        for r in rows
        if "weights" in r
    ]


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
            row[k] = {"mean": float(vals.mean()), "std": float(vals.std()), "n": len(vals)}
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


REFERENCE_LABELS = {
    "global-mean": "global-mean (constant)",
    "item-mean": "item-mean",
    "warm": "warm (upper reference: users not cold)",
    "oracle": "oracle (planted truth)",
    "ideal-all": "ideal transfer, all sources (planted truth)",
    "ideal": "ideal transfer (planted truth)",
}


def is_reference(method: str) -> bool:
    return method.split("[")[0] in (*REFERENCES, "ideal")


def reference_label(method: str) -> str:
    base, _, rest = method.partition("[")
    return REFERENCE_LABELS.get(method, f"{REFERENCE_LABELS.get(base, base)} [{rest}")


def no_transfer(row: dict[str, Any], item_mean: dict[str, Any] | None) -> bool:
    """A method transfers nothing when its mean MAE is not below the item mean's by more than
    its own seed std (any gap counts with one seed)."""
    if item_mean is None or is_reference(row["method"]):
        return False
    return item_mean["mae"]["mean"] - row["mae"]["mean"] <= row["mae"]["std"]


def row_labels(rows: list[dict[str, Any]]) -> list[str]:
    """Display names: reference rows labelled as such, methods that transfer nothing marked
    "(no transfer)" (against the item-mean row of the same target and beta)."""
    item_mean = {(r["target"], r["beta"]): r for r in rows if r["method"] == "item-mean"}
    return [
        reference_label(r["method"])
        if is_reference(r["method"])
        else r["method"]
        + (" (no transfer)" if no_transfer(r, item_mean.get((r["target"], r["beta"]))) else "")
        for r in rows
    ]


def mae_overview(rows: list[dict[str, Any]]) -> str:
    """The table at a glance: mean MAE per method (rows) and target x beta (columns), then the
    reference rows. Per column the best method that beats the item mean by more than its seed
    std is in bold; a method that does not is marked "(no transfer)" and never bolded. A second
    table gives the share of the gap between the constant and the warm reference each method
    closes. The full tables follow."""
    cells = list(dict.fromkeys((r["target"], r["beta"]) for r in rows))
    by_key = {(r["method"], r["target"], r["beta"]): r for r in rows if "mae" in r}
    flagged = {k: no_transfer(r, by_key.get(("item-mean", k[1], k[2]))) for k, r in by_key.items()}
    best = {}
    for c in cells:
        ok = [v["mae"]["mean"] for k, v in by_key.items()
              if k[1:] == c and not is_reference(k[0]) and not flagged[k]]  # fmt: skip
        best[c] = min(ok, default=None)
    family: dict[str, int] = {}  # ptupcdr[Action] etc. right after their method
    for r in rows:
        family.setdefault(r["method"].split("[")[0], len(family))
    order = sorted(
        dict.fromkeys(r["method"] for r in rows),
        key=lambda m: (family[m.split("[")[0]], "[" in m, m),
    )
    methods = [m for m in order if not is_reference(m)]
    refs = [m for m in order if is_reference(m)]
    header = "| method | " + " | ".join(f"{t} {b}" for t, b in cells) + " |"
    rule = "|" + "---|" * (len(cells) + 1)
    lines = [
        "### MAE at a glance (columns: target, beta; mean over seeds)",
        "",
        "Bold: the best method of the column among those that beat item-mean by more than "
        "their seed std; (no transfer): a method that does not. The reference rows below the "
        "methods are not cold-start methods.",
        "",
        header,
        rule,
    ]

    def shown(method: str, c: tuple) -> str:
        r = by_key.get((method, *c))
        if r is None:
            return ""
        v = r["mae"]["mean"]
        if flagged[(method, *c)]:
            return f"{v:.3f} (no transfer)"
        return f"**{v:.3f}**" if v == best[c] else f"{v:.3f}"

    for method in methods:
        lines.append(f"| {method} | " + " | ".join(shown(method, c) for c in cells) + " |")
    if refs:
        lines.append("| *reference rows* |" + " |" * len(cells))
    for method in refs:
        values = " | ".join(shown(method, c) for c in cells)
        lines.append(f"| {reference_label(method)} | {values} |")
    gap = _gap_closed(by_key, methods, cells)
    if gap:
        lines += [
            "",
            "Share of the gap between global-mean and the warm reference that each method "
            "closes (MAE; 1 = as good as a warm user, 0 = no better than the constant):",
            "",
            header,
            rule,
            *gap,
        ]
    return "\n".join(lines)


def _gap_closed(by_key: dict, methods: list[str], cells: list[tuple]) -> list[str]:
    lines = []
    for method in methods:
        shares = []
        for c in cells:
            r, lo, hi = (by_key.get((m, *c)) for m in (method, "global-mean", "warm"))
            if r is None or lo is None or hi is None:
                shares.append("")
                continue
            span = lo["mae"]["mean"] - hi["mae"]["mean"]
            shares.append(
                f"{(lo['mae']['mean'] - r['mae']['mean']) / span:.2f}" if span > 0 else ""
            )
        if any(shares):
            lines.append(f"| {method} | " + " | ".join(shares) + " |")
    return lines


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
        f"items per user. Per-domain MF: {cfg.mf.model}. Reference rows: references.py "
        "(warm = an upper reference fitted with the test users' own target ratings, by "
        "2-fold cross-fitting)."
    )
    md, labelled = [mae_overview(rows), ""], []
    for target, beta in dict.fromkeys((r["target"], r["beta"]) for r in rows):
        part = [r for r in rows if r["target"] == target and r["beta"] == beta]
        shown = [{**r, "method": label} for r, label in zip(part, row_labels(part), strict=True)]
        md += [f"### target {target}, beta = {beta}", "", tables.to_markdown(shown, columns), ""]
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
