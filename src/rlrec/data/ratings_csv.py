"""`ratings-csv`: bring your own ratings as a CSV file.

`data.path` is either the ratings file itself or a folder holding `ratings.csv` and, optionally,
`items.csv`:

    ratings.csv   user_id,item_id,rating[,timestamp][,domain]    one row per interaction
    items.csv     item_id[,title][,genres]                      genres separated by "|"

Ids may be numbers or strings. Without `timestamp`, the row order within each user is the time
order; without `domain`, every row belongs to the domain "csv" (give one to use the rows as
MARCO's domains). A UTF-8 byte-order mark at the start of a file is ignored.

Each row is checked: ids present, the rating a finite number within `data.rating_scale`
(default [1, 5]), and the (domain, user, item) not rated on an earlier row. With `data.strict`
the first row failing a check is an error naming its line; otherwise bad rows are skipped, a
repeated rating keeps the latest one (largest timestamp, else the last row), and both are counted
in `ds.meta["load_report"]`. A file with no valid row left is an error.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rlrec.config import clip
from rlrec.data.checks import clean_ratings, new_report, reject
from rlrec.data.config import DataConfig, DatasetSpec, file_fingerprint
from rlrec.data.dataset import Dataset, interactions_frame
from rlrec.errors import DataError

log = logging.getLogger("rlrec")
REQUIRED = ("user_id", "item_id", "rating")
_F32_MAX = float(np.finfo(np.float32).max)


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
    path, items_path = _files(cfg)
    raw = _read_csv(path, {"user_id": str, "item_id": str})
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; need {list(REQUIRED)}")
    report = new_report()
    line = raw.index.to_numpy() + 2  # 1-based, after the header

    def where(row: int) -> str:
        return f"{path}:{line[row]}"

    no_id = (raw["user_id"].isna() | raw["item_id"].isna()).to_numpy()
    reject(report, no_id, where, "user_id or item_id missing", cfg.strict)
    rating = pd.to_numeric(raw["rating"], errors="coerce").to_numpy(dtype=np.float64)
    nan = np.isnan(rating) & ~no_id
    reject(report, nan, where, "rating is not a number", cfg.strict)
    keep = ~(no_id | nan)
    raw, rating, line = raw[keep], rating[keep], line[keep]
    if "timestamp" in raw.columns:
        timestamp = pd.to_numeric(raw["timestamp"], errors="coerce").fillna(0).astype(np.int64)
    else:
        timestamp = raw.groupby("user_id", sort=False).cumcount().astype(np.int64)
    domain = raw["domain"].astype(str) if "domain" in raw.columns else "csv"
    rating = np.clip(rating, -_F32_MAX, _F32_MAX)  # 1e308 stays out of scale, not inf
    inter = interactions_frame(
        _ids(raw["user_id"]), _ids(raw["item_id"]), rating, timestamp, domain
    )
    inter = clean_ratings(inter, cfg.rating_scale, cfg.strict, where, report)
    if inter.empty:
        raise DataError(f"{path}: no valid rating row ({report['skipped']:,} skipped)")
    meta = {"source": f"ratings CSV at {path}", "load_report": report}
    return Dataset("ratings-csv", inter, items=_items(items_path, inter), meta=meta)


def _read_csv(path: Path, dtype: dict[str, Any]) -> pd.DataFrame:
    """A CSV file as a frame (a byte-order mark is dropped); DataError when unreadable."""
    try:
        return pd.read_csv(path, dtype=dtype, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError,
            OSError) as err:  # fmt: skip
        raise DataError(f"{path}: not a readable CSV ({clip(str(err))})") from None


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
    items = _read_csv(path, {"item_id": str})
    if "item_id" not in items.columns:
        raise DataError(f"{path}: needs an item_id column")
    items["item_id"] = _ids(items["item_id"])
    if "genres" in items.columns:
        items["genres"] = items["genres"].fillna("").map(lambda g: [x for x in g.split("|") if x])
    return pd.DataFrame({"item_id": ids}).merge(items, on="item_id", how="left")


def _fingerprint(cfg: DataConfig) -> dict[str, Any]:
    ratings, items = _files(cfg)
    return {
        **file_fingerprint(*(p for p in (ratings, items) if p)),
        "strict": cfg.strict,
        "rating_scale": list(cfg.rating_scale),
    }


SPEC = DatasetSpec(
    name="ratings-csv",
    description="your own ratings: a CSV user_id,item_id,rating[,timestamp][,domain] (+ items)",
    load=_load,
    fingerprint=_fingerprint,
    needs_path=True,
)
