"""The one in-memory form every loader returns, and its summary (`rlrec data info`).

`Dataset.interactions` columns (one row per user-item event):
    user_id    raw user id from the source (int or str)
    item_id    raw item id from the source (int or str)
    rating     float32; NaN for implicit feedback (e.g. BiLLP histories)
    timestamp  int64 seconds since the epoch, or the position in the user's history where the
               source has no clock (documented per loader)
    domain     str; the dataset name for single-domain data, the domain for multi-domain data
Loaders may add columns of their own (BiLLP adds `split`); the cache keeps them.
`Dataset.items` has at least `item_id` and `title` where the source has titles (plus `year`,
`genres` list, `domain`...); `Dataset.users` holds user-side attributes where there are any.
`Dataset.arrays` holds dense artefacts (BiLLP's reward and distance matrices).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

INTERACTION_COLUMNS = ("user_id", "item_id", "rating", "timestamp", "domain")


@dataclass
class Dataset:
    name: str
    interactions: pd.DataFrame
    items: pd.DataFrame = field(default_factory=pd.DataFrame)
    users: pd.DataFrame = field(default_factory=pd.DataFrame)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in INTERACTION_COLUMNS if c not in self.interactions.columns]
        if missing:
            raise ValueError(f"interactions lack columns {missing}")

    @property
    def domains(self) -> list[str]:
        return sorted(self.interactions["domain"].unique().tolist())


def interactions_frame(
    user_id: Any, item_id: Any, rating: Any, timestamp: Any, domain: Any
) -> pd.DataFrame:
    """Build an interactions table with the canonical column order and dtypes."""
    frame = pd.DataFrame(
        {
            "user_id": user_id,
            "item_id": item_id,
            "rating": np.asarray(rating, dtype=np.float32),
            "timestamp": np.asarray(timestamp, dtype=np.int64),
            "domain": domain,
        }
    )
    frame["domain"] = frame["domain"].astype(str)
    return frame


def summarize(ds: Dataset) -> dict[str, Any]:
    """Counts, density, rating distribution, and per-domain counts and overlap."""
    inter = ds.interactions
    n_users = int(inter["user_id"].nunique())
    n_items = len(ds.items) if len(ds.items) else int(inter["item_id"].nunique())
    n_inter = len(inter)
    summary: dict[str, Any] = {
        "name": ds.name,
        "users": n_users,
        "items": n_items,
        "items_with_interactions": int(inter["item_id"].nunique()),
        "interactions": n_inter,
        "density": n_inter / (n_users * n_items) if n_users and n_items else 0.0,
    }
    ratings = inter["rating"].dropna()
    summary["implicit"] = bool(len(ratings) == 0 and n_inter > 0)
    if len(ratings):
        counts = ratings.value_counts().sort_index()
        summary["rating_distribution"] = {_fmt_rating(k): int(v) for k, v in counts.items()}
        summary["rating_mean"] = float(ratings.mean())
    if ds.users.shape[1] > 1:
        summary["user_attributes"] = [c for c in ds.users.columns if c != "user_id"]
    domains = ds.domains
    if len(domains) > 1:
        summary["domains"] = _domain_counts(inter)
        summary["overlap"] = _overlap(inter, domains)
    if ds.arrays:
        summary["arrays"] = {k: list(v.shape) for k, v in ds.arrays.items()}
    summary.update(
        {k: v for k, v in ds.meta.items() if k in ("source", "load_report", "ignored_files")}
    )
    return summary


def _domain_counts(inter: pd.DataFrame) -> dict[str, dict[str, int]]:
    grouped = inter.groupby("domain", sort=True)
    table = grouped.agg(
        users=("user_id", "nunique"), items=("item_id", "nunique"), interactions=("item_id", "size")
    )
    return {str(d): {k: int(v) for k, v in row.items()} for d, row in table.iterrows()}


def _overlap(inter: pd.DataFrame, domains: list[str]) -> dict[str, Any]:
    users = {d: set(inter.loc[inter["domain"] == d, "user_id"].unique()) for d in domains}
    pairwise = {
        f"{a} & {b}": len(users[a] & users[b])
        for i, a in enumerate(domains)
        for b in domains[i + 1 :]
    }
    return {"all_domains": len(set.intersection(*users.values())), "pairwise": pairwise}


def _fmt_rating(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def format_summary(summary: dict[str, Any]) -> str:
    """Human-readable text of `summarize`'s output."""
    lines = [f"dataset        {summary['name']}"]
    if "source" in summary:
        lines.append(f"source         {summary['source']}")
    lines += [
        f"users          {summary['users']:,}",
        f"items          {summary['items']:,}"
        + (
            f"  ({summary['items_with_interactions']:,} with interactions)"
            if summary["items_with_interactions"] != summary["items"]
            else ""
        ),
        f"interactions   {summary['interactions']:,}"
        + ("  (implicit feedback)" if summary.get("implicit") else ""),
        f"density        {summary['density']:.4%}",
    ]
    if "rating_distribution" in summary:
        total = sum(summary["rating_distribution"].values())
        lines.append(f"ratings        mean {summary['rating_mean']:.3f}")
        for value, count in summary["rating_distribution"].items():
            lines.append(f"  {value:>6}       {count:>10,}  {count / total:6.1%}")
    if "user_attributes" in summary:
        lines.append(f"user attributes {', '.join(summary['user_attributes'])}")
    if "domains" in summary:
        lines.append("domains        users      items  interactions")
        for name, c in summary["domains"].items():
            lines.append(
                f"  {name:<12} {c['users']:>7,} {c['items']:>10,} {c['interactions']:>13,}"
            )
        overlap = summary["overlap"]
        lines.append(f"users in all domains  {overlap['all_domains']:,}")
        for pair, n in overlap["pairwise"].items():
            lines.append(f"  {pair}: {n:,}")
    for name, shape in summary.get("arrays", {}).items():
        lines.append(f"array          {name} {' x '.join(f'{s:,}' for s in shape)}")
    report = summary.get("load_report")
    if report and report.get("skipped"):
        lines.append(f"skipped        {report.get('skipped', 0):,} malformed records")
        for reason, n in report.get("reasons", {}).items():
            lines.append(f"  {n:>8,}  {reason}")
    if report and report.get("duplicates"):
        lines.append(f"duplicates     {report['duplicates']:,} repeated ratings (kept the latest)")
    for path in summary.get("ignored_files", []):
        lines.append(f"ignored        {path} (not a review dump)")
    return "\n".join(lines)
