"""Figures of a MARCO study (PNG, Agg backend, atomic writes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlrec.plots import pyplot, save

__all__ = ["plot_mae", "plot_weights"]


def plot_mae(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """One panel per target: MAE (mean ± std over seeds) against beta, one line per method.

    Methods whose MAE is more than twice the panel's best (TGT for cold-start users, a diverged
    run) would flatten every other line: they are named in the panel instead of drawn. Single-
    source variants (`name[domain]`) are thin grey lines; MARCO is drawn thickest."""
    targets = sorted({r["target"] for r in rows})
    if not targets:
        return None
    plt = pyplot()
    methods = list(dict.fromkeys(r["method"] for r in rows if "[" not in r["method"]))
    colours = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(methods)}
    fig, axes = plt.subplots(1, len(targets), figsize=(4.2 * len(targets), 3.8), squeeze=False)
    for ax, target in zip(axes[0], targets, strict=True):
        mine = [r for r in rows if r["target"] == target]
        best = min(r["mae"]["mean"] for r in mine)
        off_scale = {}
        for method in dict.fromkeys(r["method"] for r in mine):
            pts = sorted(
                (r["beta"], r["mae"]["mean"], r["mae"]["std"])
                for r in mine
                if r["method"] == method
            )
            if max(p[1] for p in pts) > 2 * best:
                off_scale[method] = max(p[1] for p in pts)
                continue
            single = "[" in method
            ax.errorbar(
                [p[0] for p in pts],
                [p[1] for p in pts],
                yerr=[p[2] for p in pts],
                label="single source (each)" if single else method,
                color="0.7" if single else colours[method],
                marker="" if single else "o",
                capsize=0 if single else 3,
                linewidth=2.4 if method == "marco" else 0.8 if single else 1.2,
                zorder=3 if method == "marco" else 2,
            )
        if off_scale:
            text = "off scale: " + ", ".join(f"{m} (up to {v:.2f})" for m, v in off_scale.items())
            ax.text(0.02, 0.98, text, transform=ax.transAxes, va="top", fontsize=7)
        ax.set_title(f"target {target}")
        ax.set_xlabel("cold-start ratio beta")
        ax.set_ylabel("MAE (test, cold-start users)")
        ax.grid(alpha=0.3)
    _legend_outside(fig, axes)
    fig.tight_layout()
    return save(fig, path)


def plot_weights(weights: list[dict[str, Any]], path: Path) -> Path | None:
    """Mean learned weight per source domain: a row of panels per weighting method (uniform
    left out: its weights are 1/n by construction), a panel per target, a bar group per beta;
    the dashed line is the uniform weight 1/n."""
    weights = [w for w in weights if w["method"] != "uniform"]
    if not weights:
        return None
    plt = pyplot()
    methods = list(dict.fromkeys(w["method"] for w in weights))
    targets = sorted({w["target"] for w in weights})
    names = sorted({n for w in weights for n in w["weights"]["mean_weight"]})
    colours = {n: plt.get_cmap("tab10")(i % 10) for i, n in enumerate(names)}
    fig, axes = plt.subplots(
        len(methods), len(targets), figsize=(3.6 * len(targets), 2.6 * len(methods)),
        squeeze=False, sharey=True,
    )  # fmt: skip
    for row, method in zip(axes, methods, strict=True):
        for ax, target in zip(row, targets, strict=True):
            cells = sorted(
                (w for w in weights if w["method"] == method and w["target"] == target),
                key=lambda w: w["beta"],
            )
            if not cells:
                ax.set_axis_off()
                continue
            shown = list(cells[0]["weights"]["mean_weight"])
            width = 0.8 / len(shown)
            for j, name in enumerate(shown):
                ax.bar(
                    [i + j * width for i in range(len(cells))],
                    [w["weights"]["mean_weight"].get(name, 0.0) for w in cells],
                    width,
                    color=colours[name],
                    label=name,
                )
            ax.axhline(1 / len(shown), color="0.3", linestyle="--", linewidth=0.8)
            ax.set_xticks([i + 0.4 - width / 2 for i in range(len(cells))])
            ax.set_xticklabels([f"beta {w['beta']}" for w in cells], fontsize=8)
            ax.set_title(f"{method}: target {target}", fontsize=9)
            ax.grid(axis="y", alpha=0.3)
        row[0].set_ylabel("mean weight (test rows)")
    _legend_outside(fig, axes, title="source domain")
    fig.tight_layout()
    return save(fig, path)


def _legend_outside(fig: Any, axes: Any, title: str | None = None) -> None:
    """One legend of every panel's labels (each once), right of the panels, never on the data."""
    handles: dict[str, Any] = {}
    for ax in axes.flat:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, h)
    fig.legend(
        list(handles.values()), list(handles), title=title,
        loc="center left", bbox_to_anchor=(1.0, 0.5),
    )  # fmt: skip
