"""Figures written into run directories (PNG, non-interactive backend, atomic writes).

`pyplot()` gives matplotlib's pyplot on the Agg backend and `save(fig, path)` writes a figure
atomically and closes it: every figure rlrec draws (here, `report.py`, `crossdomain/plots.py`)
goes through them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from rlrec.atomic import atomic_path


def learning_curves(
    curves: dict[str, list[list[dict[str, Any]]]],
    path: str | os.PathLike[str],
    metric: str = "return",
    title: str = "",
    smooth: int = 10,
) -> Path | None:
    """One panel per x-unit ("episodes", "updates"): for each method, the mean over seeds of
    `metric` (moving average over `smooth` points), with the min-max band over seeds.

    `curves` maps a method to its seeds' curves (lists of rows as `training.fit` returns).
    Returns None (and writes nothing) when no curve has `metric`."""
    plt = pyplot()
    panels: dict[str, dict[str, list[tuple[np.ndarray, np.ndarray]]]] = {}
    for method, seeds in curves.items():
        for rows in seeds:
            rows = [r for r in rows if metric in r]
            if not rows:
                continue
            unit = "episodes" if "episodes" in rows[0] else "updates"
            x = np.array([r[unit] for r in rows], dtype=float)
            y = _moving_average(np.array([r[metric] for r in rows], dtype=float), smooth)
            panels.setdefault(unit, {}).setdefault(method, []).append((x, y))
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.2), squeeze=False)
    for ax, (unit, methods) in zip(axes[0], sorted(panels.items()), strict=True):
        for method, runs in methods.items():
            grid = np.linspace(0, min(x[-1] for x, _ in runs), 200)
            ys = np.stack([np.interp(grid, x, y) for x, y in runs])
            (line,) = ax.plot(grid, ys.mean(0), label=method, linewidth=1.6)
            if len(runs) > 1:
                ax.fill_between(grid, ys.min(0), ys.max(0), color=line.get_color(), alpha=0.15)
        ax.set_xlabel(f"training {unit}")
        ax.set_ylabel(f"{metric} (training, moving average)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save(fig, path)


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt


def save(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Write `fig` as PNG atomically (folders created) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    return path


def _moving_average(y: np.ndarray, k: int) -> np.ndarray:
    if k <= 1 or len(y) < 2:
        return y
    k = min(k, len(y))
    kernel = np.ones(k) / k
    padded = np.concatenate([np.full(k - 1, y[0]), y])
    return np.convolve(padded, kernel, mode="valid")
