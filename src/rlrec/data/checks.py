"""The checks every rating loader applies to its rows: the declared scale and repeated ratings.

- A rating is valid when it is finite and within the declared scale `[low, high]`
  (`data.rating_scale`, default [1, 5]); `rating_out_of_scale` marks the others.
- A (domain, user, item) pair rated more than once keeps its latest rating (largest timestamp;
  on a tie the row read last); `superseded` marks the rows dropped.

Loaders turn the marks into their report: in strict mode the first marked row is an error naming
its file and line, otherwise the rows are dropped and counted (`ds.meta["load_report"]`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from rlrec.errors import DataError

__all__ = [
    "Where",
    "clean_ratings",
    "new_report",
    "rating_out_of_scale",
    "reject",
    "repeated",
    "superseded",
]

log = logging.getLogger("rlrec")
MAX_EXAMPLES = 10


def rating_out_of_scale(rating: np.ndarray, scale: tuple[float, float]) -> np.ndarray:
    """True where `rating` is NaN, infinite or outside `[scale[0], scale[1]]`."""
    rating = np.asarray(rating, dtype=np.float64)
    low, high = scale
    with np.errstate(invalid="ignore"):
        return ~(np.isfinite(rating) & (rating >= low) & (rating <= high))


def _keys(users: pd.Series, items: pd.Series, domains: pd.Series | str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "u": pd.Series(users).to_numpy(),
            "i": pd.Series(items).to_numpy(),
            "d": domains if isinstance(domains, str) else pd.Series(domains).to_numpy(),
        }
    )


def repeated(users: pd.Series, items: pd.Series, domains: pd.Series | str) -> np.ndarray:
    """True for every row whose (domain, user, item) was already on an earlier row (in reading
    order): what strict mode reports."""
    return _keys(users, items, domains).duplicated(keep="first").to_numpy()


def superseded(
    users: pd.Series, items: pd.Series, domains: pd.Series | str, timestamps: np.ndarray
) -> np.ndarray:
    """True for every row of a repeated (domain, user, item) but its latest one (the largest
    timestamp; among equal timestamps the last row): what lenient mode drops."""
    keys = _keys(users, items, domains)
    order = np.argsort(np.asarray(timestamps, dtype=np.int64), kind="stable")
    dropped_sorted = keys.iloc[order].duplicated(keep="last").to_numpy()
    dropped = np.zeros(len(keys), dtype=bool)
    dropped[order] = dropped_sorted
    return dropped


def new_report() -> dict[str, Any]:
    """The `load_report` of a loader: skipped rows by reason, examples, duplicates dropped."""
    return {"skipped": 0, "reasons": {}, "examples": [], "duplicates": 0}


Where = Callable[[int], str]  # row -> its place in the source, e.g. "ratings.csv:7"


def reject(
    report: dict[str, Any], mask: np.ndarray, where: Where, reason: str, strict: bool
) -> None:
    """Strict: DataError `<where of the first marked row>: <reason>`. Lenient: count the
    marked rows in `report` (and log them)."""
    rows = np.flatnonzero(mask)
    if not len(rows):
        return
    first = f"{where(int(rows[0]))}: {reason}"
    if strict:
        raise DataError(first)
    report["skipped"] += len(rows)
    report["reasons"][reason] = report["reasons"].get(reason, 0) + len(rows)
    if len(report["examples"]) < MAX_EXAMPLES:
        report["examples"].append(first)
    log.warning("skipped %d row(s): %s (first: %s)", len(rows), reason, where(int(rows[0])))


def clean_ratings(
    inter: pd.DataFrame,
    scale: tuple[float, float],
    strict: bool,
    where: Where,
    report: dict[str, Any],
) -> pd.DataFrame:
    """`inter` (rows in reading order, `where(row)` naming each) without its out-of-scale and
    superseded ratings; strict mode raises at the first of either instead."""
    low, high = scale
    out = rating_out_of_scale(inter["rating"].to_numpy(), scale)
    reject(report, out, where, f"rating not finite or outside [{low:g}, {high:g}]", strict)
    kept = np.flatnonzero(~out)
    inter, outer = inter.iloc[kept], where
    where = lambda row: outer(int(kept[row]))  # noqa: E731 - rows renumbered after the drop
    keys = (inter["user_id"], inter["item_id"], inter["domain"])
    if strict:
        reject(report, repeated(*keys), where, "repeated (user, item) rating", strict)
    dup = superseded(*keys, inter["timestamp"].to_numpy())
    if dup.any():
        report["duplicates"] += int(dup.sum())
        log.warning("%d repeated (user, item) rating(s) (first: %s): kept the latest of each",
                    dup.sum(), where(int(np.flatnonzero(dup)[0])))  # fmt: skip
    return inter[~dup].reset_index(drop=True)
