"""`ratings-csv`: bring your own ratings as a CSV file.

`data.path` is either the ratings file itself or a folder holding `ratings.csv` and, optionally,
`items.csv`:

    ratings.csv   user_id,item_id,rating[,timestamp][,domain]    one row per interaction
    items.csv     item_id[,title][,genres]                      genres separated by "|"

Ids may be numbers or strings. Without `timestamp`, the row order within each user is the time
order; without `domain`, every row belongs to the domain "csv" (give one to use the rows as
MARCO's domains). Ratings must be numbers; a row that is not is an error naming its line (with
`data.strict=false`, such rows are skipped and counted).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rlrec.data.config import DataConfig, DatasetSpec, file_fingerprint
from rlrec.data.dataset import Dataset, interactions_frame
from rlrec.errors import DataError

log = logging.getLogger("rlrec")
REQUIRED = ("user_id", "item_id", "rating")


def _files(cfg: DataConfig) -> tuple[Path, Path | None]:
    path = Path(cfg.path)
    if path.is_file():
        return path, None
    ratings = path / "ratings.csv"
    if not ratings.is_file():
        raise DataError(f"{path}: no ratings.csv (give the CSV file or a folder holding it)")
    items = path / "items.csv"
    return ratings, items if items.is_file() else None


def _load(cfg: DataConfig) -> Dataset:
    ratings_path, items_path = _files(cfg)
    try:
        raw = pd.read_csv(ratings_path, dtype={"user_id": str, "item_id": str})
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise DataError(f"{ratings_path}: not a readable CSV ({err})") from None
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise DataError(f"{ratings_path}: missing column(s) {missing}; need {list(REQUIRED)}")
    rating = pd.to_numeric(raw["rating"], errors="coerce")
    bad = rating.isna() | raw["user_id"].isna() | raw["item_id"].isna()
    if bad.any():
        line = int(np.flatnonzero(bad.to_numpy())[0]) + 2  # 1-based, after the header
        if cfg.strict:
            raise DataError(f"{ratings_path}:{line}: rating is not a number or an id is missing")
        log.warning("%s: skipped %d malformed rows (first: line %d)", ratings_path, bad.sum(), line)
    raw, rating = raw[~bad], rating[~bad]
    if raw.empty:
        raise DataError(f"{ratings_path}: no valid rating row")
    if "timestamp" in raw.columns:
        timestamp = pd.to_numeric(raw["timestamp"], errors="coerce").fillna(0).astype(np.int64)
    else:
        timestamp = raw.groupby("user_id", sort=False).cumcount().astype(np.int64)
    domain = raw["domain"].astype(str) if "domain" in raw.columns else "csv"
    inter = interactions_frame(
        _ids(raw["user_id"]), _ids(raw["item_id"]), rating, timestamp, domain
    )
    return Dataset("ratings-csv", inter, items=_items(items_path, inter))


def _ids(column: pd.Series) -> pd.Series:
    """Integer ids stay integers (as every other loader gives them); others stay strings."""
    numeric = pd.to_numeric(column, errors="coerce")
    if numeric.notna().all() and (numeric == numeric.round()).all():
        return numeric.astype(np.int64)
    return column.astype(str)


def _items(path: Path | None, inter: pd.DataFrame) -> pd.DataFrame:
    ids = pd.Series(sorted(inter["item_id"].unique()), name="item_id")
    if path is None:
        return pd.DataFrame({"item_id": ids})
    items = pd.read_csv(path, dtype={"item_id": str})
    if "item_id" not in items.columns:
        raise DataError(f"{path}: needs an item_id column")
    items["item_id"] = _ids(items["item_id"])
    if "genres" in items.columns:
        items["genres"] = items["genres"].fillna("").map(lambda g: [x for x in g.split("|") if x])
    return pd.DataFrame({"item_id": ids}).merge(items, on="item_id", how="left")


def _fingerprint(cfg: DataConfig) -> dict[str, Any]:
    ratings, items = _files(cfg)
    return {**file_fingerprint(*(p for p in (ratings, items) if p)), "strict": cfg.strict}


SPEC = DatasetSpec(
    name="ratings-csv",
    description="your own ratings: a CSV user_id,item_id,rating[,timestamp][,domain] (+ items)",
    load=_load,
    fingerprint=_fingerprint,
    needs_path=True,
)
