"""Figures of a MARCO study (PNG, Agg backend, atomic writes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlrec.plots import pyplot, save

__all__ = ["plot_mae", "plot_weights"]


def plot_mae(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """One panel per target: MAE (mean ± std over seeds) against beta, one line per method."""
    targets = sorted({r["target"] for r in rows})
    if not targets:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(targets), figsize=(4.5 * len(targets), 3.8), squeeze=False)
    for ax, target in zip(axes[0], targets, strict=True):
        for method in dict.fromkeys(r["method"] for r in rows if r["target"] == target):
            pts = sorted(
                (r["beta"], r["mae"]["mean"], r["mae"]["std"])
                for r in rows
                if r["target"] == target and r["method"] == method
            )
            ax.errorbar(
                [p[0] for p in pts],
                [p[1] for p in pts],
                yerr=[p[2] for p in pts],
                label=method,
                marker="o",
                capsize=3,
                linewidth=1.2,
            )
        ax.set_title(f"target {target}")
        ax.set_xlabel("cold-start ratio beta")
        ax.set_ylabel("MAE (test, cold-start users)")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    return save(fig, path)


def plot_weights(weights: list[dict[str, Any]], path: Path) -> Path | None:
    """Mean learned weight per domain, one bar group per (method, target, beta)."""
    if not weights:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(weights) + 2), 3.8))
    names = sorted({n for w in weights for n in w["weights"]["mean_weight"]})
    width = 0.8 / len(names)
    for j, name in enumerate(names):
        ax.bar(
            [i + j * width for i in range(len(weights))],
            [w["weights"]["mean_weight"].get(name, 0.0) for w in weights],
            width,
            label=name,
        )
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(weights))])
    ax.set_xticklabels(
        [f"{w['method']}\n{w['target']} b={w['beta']}" for w in weights], fontsize=6, rotation=30
    )
    ax.set_ylabel("mean weight (test rows)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save(fig, path)
