"""The dataset registry behind `rlrec data list|fetch|info` and every stage that reads data.

Each entry maps a name to a `DatasetSpec`: a loader taking the `DataConfig`, and a fingerprint of
what determines the result (source files, options). `load_dataset` parses through the spec once
and then serves the Parquet cache, keyed by that fingerprint.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from rlrec.atomic import sha256_json
from rlrec.data import cache
from rlrec.data.config import DataConfig, DatasetSpec, file_fingerprint
from rlrec.data.dataset import Dataset
from rlrec.errors import DataError

log = logging.getLogger("rlrec")

CACHE_VERSION = 2  # bump when a loader's output changes, to invalidate older cache entries


@functools.cache
def registry() -> dict[str, DatasetSpec]:
    """All known datasets by name (the loader modules are imported on first use only)."""
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
        try:
            ds = cache.load(folder)
        except DataError as err:  # damaged after it was written: repair it from the source
            log.warning("data %s: %s; parsing the source again", cfg.name, err)
        else:
            log.info("data %s: cache hit (%s)", cfg.name, folder)
            return ds
    log.info("data %s: parsing the source", cfg.name)
    ds = spec.load(cfg)
    cache.save(ds, folder, {"fingerprint": spec.fingerprint(cfg)})
    log.info("data %s: cached at %s", cfg.name, folder)
    return ds


__all__ = [
    "DataConfig",
    "DatasetSpec",
    "cache_folder",
    "file_fingerprint",
    "get_spec",
    "load_dataset",
    "registry",
]
