"""The run report: `runs/<name>/report.md`, the PNG figures it embeds, and `results.json`.

Every number comes from the run's own files, never from text:
- `results/results.json` (the IL-Rec experiment rows: `interactive/study.py`) and
  `results/curves_return.png` (learning curves);
- `latency.json` (the trained policy's per-request latency, measured by the run);
- `marco/results.json` and `marco/weights.json` (the MARCO experiment, when the run has one);
- `manifest.json` (data, seeds, versions, git revision) and `config.yaml`.

`render_report(run_dir)` (`rlrec report RUN_DIR`) rebuilds report and figures from those files;
`compare_runs(a, b)` (`rlrec compare A B`) puts two runs' tables side by side.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from rlrec import tables
from rlrec.atomic import write_json, write_text
from rlrec.errors import DataError
from rlrec.interactive.evaluate import mode_key
from rlrec.plots import pyplot, save

ILREC_COLUMNS = ["Len", "R_each", "R_traj"]
MARCO_COLUMNS = ["mae", "rmse", "ndcg@10", "hr@10"]


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def load_run(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The parts of a finished run a report reads (error if it is no run directory)."""
    run = Path(run_dir)
    manifest = _read(run / "manifest.json")
    if manifest is None:
        raise DataError(f"{run} is not a run directory (no manifest.json)")
    return {
        "dir": run,
        "manifest": manifest,
        "ilrec": _read(run / "results" / "results.json"),
        "latency": _read(run / "latency.json"),
        "marco": _read(run / "marco" / "results.json"),
        "marco_weights": _read(run / "marco" / "weights.json"),
    }


def render_report(run_dir: str | os.PathLike[str]) -> Path:
    """Write `report.md`, its figures under `report/` and `results.json`; return the report."""
    run = load_run(run_dir)
    folder = run["dir"] / "report"
    figures: dict[str, str] = {}
    parts = [f"# rlrec report: `{run['manifest'].get('name', run['dir'].name)}`", ""]
    summary: dict[str, Any] = {"run": str(run["dir"])}
    if run["ilrec"]:
        parts += _ilrec_section(run, folder, figures, summary)
    if run["marco"]:
        parts += _marco_section(run, folder, figures, summary)
    if not (run["ilrec"] or run["marco"]):
        parts += ["No finished experiment in this run yet (no results/ or marco/ tables).", ""]
    parts += _what_was_run(run)
    path = run["dir"] / "report.md"
    write_text(path, "\n".join(parts) + "\n")
    write_json(run["dir"] / "results.json", {**summary, "figures": figures})
    return path


# ----------------------------------------------------------------------------- IL-Rec
def _ilrec_section(
    run: dict[str, Any], folder: Path, figures: dict[str, str], summary: dict[str, Any]
) -> list[str]:
    rows = run["ilrec"]
    columns = ilrec_columns(rows)
    caption = (run["dir"] / "results" / "results.md").read_text(encoding="utf-8").split("\n\n")
    lines = [
        "## IL-Rec: interactive recommendation in the simulator",
        "",
        tables.to_markdown(rows, ["learns from", *columns]),
        "",
        caption[-1].strip() if len(caption) > 1 else "",
        "",
        *_reading(rows),
    ]
    summary["ilrec"] = [
        {"method": r["method"], **{c: r[c] for c in columns if c in r}} for r in rows
    ]
    curves = run["dir"] / "results" / "curves_return.png"
    if curves.is_file():
        figures["learning_curves"] = str(curves.relative_to(run["dir"]))
        lines += [
            "![Training return per episode (moving average; band: min-max over seeds)]"
            f"({figures['learning_curves']})",
            "",
            "*Learning curves: the mean training-episode return of each learner in the "
            "simulator's train split (offline learners have no episodes and are not drawn).*",
            "",
        ]
    lengths = {r["method"]: _flat(r.get("per_seed", {}).get("lengths")) for r in rows}
    lengths = {m: v for m, v in lengths.items() if len(v)}
    if lengths:
        path = folder / "episode_lengths.png"
        _boxplot(lengths, path, "episode length (test users, all seeds)")
        figures["episode_lengths"] = str(path.relative_to(run["dir"]))
        lines += [
            f"![Episode length per method]({figures['episode_lengths']})",
            "",
            "*Distribution of the episode lengths on the test users over all seeds: how long "
            "each method keeps the simulated user.*",
            "",
        ]
    lines += _latency_lines(run, rows, folder, figures, summary)
    return lines


def ilrec_columns(rows: list[dict[str, Any]]) -> list[str]:
    """The headline columns, then Len / R_traj in the second evaluation mode (`free` beside
    `no-repeat`, `interactive.evaluate.evaluate_modes`) where the rows have them."""
    paired = [mode_key(c, m) for m in ("no-repeat", "free") for c in ("Len", "R_traj")]
    return [*ILREC_COLUMNS, *(c for c in paired if any(c in r for r in rows))]


def _reading(rows: list[dict[str, Any]]) -> list[str]:
    """One paragraph placing IL-Rec against the best learner, random and its LLM expert, from
    the table's R_traj means (the IL-Rec paper's headline metric)."""
    mean = {r["method"]: float(r["R_traj"]["mean"]) for r in rows if "R_traj" in r}
    if "il-rec" not in mean:
        return []
    ours = mean["il-rec"]
    learners = {
        r["method"]: mean[r["method"]]
        for r in rows
        if r["method"] in mean and r["method"] != "il-rec"
        and r.get("learns from", "-") not in ("-", "in-context")
    }  # fmt: skip
    words = [f"**Reading the table** (R_traj): IL-Rec {ours:.1f}"]
    expert = next((m for m in mean if m.startswith("LLM expert")), None)
    if expert:
        words.append(f"its LLM expert {mean[expert]:.1f}")
    if "random" in mean:
        words.append(f"random {mean['random']:.1f}")
    best = max(learners, key=learners.get, default=None)
    if best:
        words.append(f"the best other method {best} {learners[best]:.1f}")
    text = "; ".join(words) + "."
    if expert and mean[expert] < mean.get("random", -np.inf):
        text += (
            " The expert IL-Rec imitates scores below random here, so imitation pulls IL-Rec"
            " towards a weak policy: compare it with `il-rec w/o demos` where the run has it."
        )
    return [text, ""]


def _latency_lines(
    run: dict[str, Any],
    rows: list[dict[str, Any]],
    folder: Path,
    figures: dict[str, str],
    summary: dict[str, Any],
) -> list[str]:
    llm = next((r for r in rows if "latency_s_per_step" in r), None)
    policy = run["latency"]
    if not (llm and policy):
        return []
    llm_ms = 1e3 * float(llm["latency_s_per_step"])
    policy_ms = float(policy["p50_ms"])
    ratio = llm_ms / policy_ms
    summary["latency"] = {"llm_ms_per_step": llm_ms, "policy": policy, "ratio": ratio}
    path = folder / "latency.png"
    _latency_bar(llm["method"], llm_ms, policy.get("method", "il-rec"), policy_ms, path)
    figures["latency"] = str(path.relative_to(run["dir"]))
    return [
        "### Latency: the LLM expert against the trained policy",
        "",
        f"| | per recommendation |\n|---|---|\n| {llm['method']} (mean per step) | "
        f"{llm_ms:,.1f} ms |\n| {policy.get('method', 'il-rec')} policy (p50 per request, "
        f"batch 1, CPU; p99 {policy['p99_ms']:.3f} ms) | {policy_ms:.3f} ms |",
        "",
        f"The trained policy answers **{ratio:,.0f}x** faster than the LLM expert it learned from.",
        "",
        f"![Latency per recommendation, log scale]({figures['latency']})",
        "",
    ]


# ----------------------------------------------------------------------------- MARCO
def _marco_section(
    run: dict[str, Any], folder: Path, figures: dict[str, str], summary: dict[str, Any]
) -> list[str]:
    rows = marco_rows(run["marco"])
    columns = [c for c in MARCO_COLUMNS if any(c in r for r in rows)]
    lines = [
        "## MARCO: cold-start users across domains",
        "",
        tables.to_markdown(rows, columns),
        "",
    ]
    caption = run["dir"] / "marco" / "results.md"
    if caption.is_file():
        lines += [caption.read_text(encoding="utf-8").strip().splitlines()[-1], ""]
    summary["marco"] = [
        {"method": r["method"], **{c: r[c] for c in columns if c in r}} for r in rows
    ]
    marco = [w for w in run["marco_weights"] or [] if w["method"] == "marco"]
    if marco:
        from rlrec.crossdomain.plots import plot_weights

        path = plot_weights(marco, folder / "marco_weights.png")
        figures["marco_weights"] = str(path.relative_to(run["dir"]))
        summary["marco_weights"] = {
            f"{w['target']} (beta {w['beta']})": w["weights"]["mean_weight"] for w in marco
        }
        lines += [
            f"![MARCO's mean weight per source domain]({figures['marco_weights']})",
            "",
            "*MARCO's mean weight on each source domain's transferred embedding over the "
            "cold-start test users, per target (dashed: the uniform weight 1 / number of "
            "sources).*",
            "",
        ]
    return lines


def marco_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The MARCO table's rows labelled `target, beta: method`, reference rows and methods that
    transfer nothing marked as in the experiment's own tables."""
    from rlrec.crossdomain.experiment import row_labels

    return [
        {**r, "method": f"{r['target']}, beta {r['beta']}: {label}"}
        for r, label in zip(rows, row_labels(rows), strict=True)
    ]


# ----------------------------------------------------------------------------- provenance
def _what_was_run(run: dict[str, Any]) -> list[str]:
    m = run["manifest"]
    cfg = m.get("config", {})
    world = cfg.get("worldmodel", {})
    versions = m.get("versions", {})
    git = m.get("git") or {}
    stages = m.get("stages", {})
    return [
        "## What was run",
        "",
        f"- Data: `{cfg.get('data', {}).get('name')}`; seed {m.get('seed')}; world model "
        f"`{world.get('model')}` x{world.get('n_ensemble')}.",
        f"- Learners' seeds: {cfg.get('study', {}).get('seeds')}; evaluation seeds: "
        f"{cfg.get('evaluation', {}).get('seeds')}; selection rule: none for IL-Rec's table "
        "(the last iterate is evaluated); MARCO selects on its validation users.",
        f"- Stages finished: {len(stages)}; total stage time "
        f"{sum(s.get('seconds', 0) for s in stages.values()):,.0f} s.",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v),
        f"- Code: git {git.get('commit', '?')[:10]}{' (dirty)' if git.get('dirty') else ''}.",
        "",
    ]


# ----------------------------------------------------------------------------- compare
def compare_runs(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> str:
    """Markdown: each method's headline metrics in run A and run B, side by side."""
    runs = [load_run(a), load_run(b)]
    names = [r["dir"].name for r in runs]
    out = []
    for part, columns in (("ilrec", ILREC_COLUMNS), ("marco", MARCO_COLUMNS)):
        label = marco_rows if part == "marco" else list
        tables_ab = [{row["method"]: row for row in label(r[part] or [])} for r in runs]
        if part == "ilrec":
            columns = ilrec_columns([row for t in tables_ab for row in t.values()])
        methods = list(dict.fromkeys([*tables_ab[0], *tables_ab[1]]))
        if not methods:
            continue
        head = [f"{c} ({n})" for c in columns for n in names]
        lines = ["| method | " + " | ".join(head) + " |", "|" + "---|" * (len(head) + 1)]
        for method in methods:
            cells = [
                tables.cell(t[method][c]) if method in t and c in t[method] else "-"
                for c in columns
                for t in tables_ab
            ]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        title = "IL-Rec" if part == "ilrec" else "MARCO"
        out += [f"## {title}: {names[0]} vs {names[1]}", "", *lines, ""]
    if not out:
        raise DataError("neither run has a finished results table")
    return "\n".join(out)


# ----------------------------------------------------------------------------- figures
def _flat(values: Any) -> np.ndarray:
    if not values:
        return np.zeros(0)
    return np.concatenate([np.asarray(v, dtype=float).ravel() for v in values])


def _boxplot(values: dict[str, np.ndarray], path: Path, ylabel: str) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(values)), 4.2))
    ax.boxplot(list(values.values()), showmeans=True)
    ax.set_xticks(range(1, len(values) + 1), list(values), rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    save(fig, path)


def _latency_bar(llm: str, llm_ms: float, policy: str, policy_ms: float, path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 3.2))
    ax.barh([f"{policy} policy", llm], [policy_ms, llm_ms], color=["tab:green", "tab:red"])
    ax.set_xscale("log")
    ax.set_xlabel("milliseconds per recommendation (log scale)")
    for y, v in enumerate([policy_ms, llm_ms]):
        ax.text(v, y, f" {v:,.2f} ms", va="center", fontsize=8)
    ax.set_xlim(right=max(policy_ms, llm_ms) * 30)  # room for the label of the longer bar
    fig.tight_layout()
    save(fig, path)
