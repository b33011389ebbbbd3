"""The on-disk cache of parsed datasets under `${RLREC_HOME:-~/.cache/rlrec}`.

A cached dataset is a folder holding `interactions.parquet`, `items.parquet`, `users.parquet`,
one `.npy` per dense array, and `manifest.json` (written last: its presence marks the entry as
complete). The folder is assembled under a temporary name and renamed into place, so an
interrupted fetch never leaves a half-written entry; the temporary folder a killed fetch leaves
is removed by the next save (`rlrec.atomic.remove_stale_temporaries`). An entry whose files were
damaged afterwards fails to `load` with a DataError, and the registry parses the source again.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rlrec.atomic import (
    TMP_SUFFIX,
    remove_stale_temporaries,
    write_json,
    write_npy,
    write_parquet,
)
from rlrec.data.dataset import Dataset
from rlrec.errors import DataError

HOME_ENV = "RLREC_HOME"
MANIFEST = "manifest.json"
TABLES = ("interactions", "items", "users")


def rlrec_home() -> Path:
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".cache" / "rlrec").expanduser()


def data_dir(*parts: str) -> Path:
    return rlrec_home().joinpath("data", *parts)


def is_complete(folder: Path) -> bool:
    return (folder / MANIFEST).is_file()


def save(ds: Dataset, folder: Path, manifest: dict[str, Any]) -> Path:
    """Write `ds` to `folder` (replacing any older entry) as one atomic step."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder.parent, recursive=False)
    tmp = Path(
        tempfile.mkdtemp(
            prefix=f".{folder.name}.{os.getpid()}.", suffix=TMP_SUFFIX, dir=folder.parent
        )
    )
    try:
        for table in TABLES:
            write_parquet(tmp / f"{table}.parquet", getattr(ds, table))
        for name, array in ds.arrays.items():
            write_npy(tmp / f"{name}.npy", np.asarray(array))
        write_json(
            tmp / MANIFEST,
            {**manifest, "name": ds.name, "arrays": sorted(ds.arrays), "meta": ds.meta},
        )
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def load(folder: Path) -> Dataset:
    """Read a complete cache entry; arrays are memory-mapped read-only. DataError when a file
    of the entry is damaged (the caller parses the source again)."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        tables = {t: _lists_back(pd.read_parquet(folder / f"{t}.parquet")) for t in TABLES}
        arrays = {
            name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
            for name in manifest.get("arrays", [])
        }
        return Dataset(
            name=manifest["name"], arrays=arrays, meta=manifest.get("meta", {}), **tables
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        detail = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        raise DataError(f"cache entry {folder} is damaged ({detail})") from None


def _lists_back(frame: pd.DataFrame) -> pd.DataFrame:
    """Parquet list columns come back as NumPy arrays per cell; restore plain lists."""
    for col in frame.columns:
        if frame[col].dtype == object and len(frame) and isinstance(frame[col].iloc[0], np.ndarray):
            frame[col] = frame[col].map(list)
    return frame
