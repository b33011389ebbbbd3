"""The dataset registry behind `rlrec data list|fetch|info` and every stage that reads data.

Each entry maps a name to a `DatasetSpec`: a loader taking the `DataConfig`, and a fingerprint of
what determines the result (source files, options). `load_dataset` parses through the spec once
and then serves the Parquet cache, keyed by that fingerprint.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from rlrec.atomic import sha256_json
from rlrec.config import Config
from rlrec.data import cache
from rlrec.data.dataset import Dataset
from rlrec.data.synthetic import SyntheticConfig
from rlrec.errors import DataError

log = logging.getLogger("rlrec")

CACHE_VERSION = 1  # bump when a loader's output changes, to invalidate older cache entries


class DataConfig(Config):
    """Which dataset to load and how."""

    name: str = Field("ml-100k", description="registry name; `rlrec data list` shows them")
    path: Path | None = Field(None, description="local folder or file (needed by some datasets)")
    strict: bool = Field(False, description="stop at the first malformed record (Amazon dumps)")
    domains: list[str] | None = Field(None, description="domains to keep (multi-domain data)")
    kcore: int = Field(0, ge=0, description="k-core filter per domain; 0 keeps everything")
    refresh: bool = Field(False, description="ignore the cache and parse the source again")
    synthetic: SyntheticConfig = Field(
        default_factory=SyntheticConfig, description="sizes of the synthetic generators"
    )


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    load: Callable[[DataConfig], Dataset]
    fingerprint: Callable[[DataConfig], dict[str, Any]]
    needs_path: bool = False


@functools.cache
def registry() -> dict[str, DatasetSpec]:
    """All known datasets by name (built on first use: the loaders import this module)."""
    from rlrec.data import amazon, billp, movielens, ratings_csv, synthetic

    specs = [movielens.SPEC, *billp.SPECS, amazon.SPEC, ratings_csv.SPEC, *synthetic.specs()]
    return {s.name: s for s in specs}


def get_spec(name: str) -> DatasetSpec:
    specs = registry()
    if name not in specs:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(specs))}")
    return specs[name]


def cache_folder(cfg: DataConfig) -> Path:
    spec = get_spec(cfg.name)
    if spec.needs_path and cfg.path is None:
        raise DataError(f"dataset {cfg.name!r} needs a local path: pass --path (data.path=...)")
    if cfg.path is not None and not Path(cfg.path).exists():
        raise DataError(f"path not found: {cfg.path}")
    key = sha256_json({"v": CACHE_VERSION, "name": cfg.name, **spec.fingerprint(cfg)})
    return cache.data_dir(cfg.name, key[:16])


def load_dataset(cfg: DataConfig) -> Dataset:
    """Load `cfg.name`, from the cache when an entry for the same inputs exists."""
    spec = get_spec(cfg.name)
    folder = cache_folder(cfg)
    if cache.is_complete(folder) and not cfg.refresh:
        log.info("data %s: cache hit (%s)", cfg.name, folder)
        return cache.load(folder)
    log.info("data %s: parsing the source", cfg.name)
    ds = spec.load(cfg)
    cache.save(ds, folder, {"fingerprint": spec.fingerprint(cfg)})
    log.info("data %s: cached at %s", cfg.name, folder)
    return ds


def file_fingerprint(*paths: str | os.PathLike[str], recursive: bool = False) -> dict[str, Any]:
    """Identity of local files by resolved path, size and modification time.

    A folder stands for the files directly in it (and below it when `recursive`): pass the
    folders a loader actually reads. Cheap on multi-GB dumps, and changes whenever a file is
    replaced or edited.
    """
    files: dict[str, list[int]] = {}
    for path in paths:
        path = Path(path).resolve()
        if path.is_file():
            found = [path]
        else:
            found = sorted(p for p in (path.rglob("*") if recursive else path.iterdir()))
        for p in found:
            if p.is_file():
                stat = p.stat()
                files[str(p)] = [stat.st_size, stat.st_mtime_ns]
    return {"files": files}
