"""The configuration of the data layer and the shape of a registry entry.

`DataConfig` (which dataset, where, how filtered) and `SyntheticConfig` (sizes of the synthetic
generators) are what every loader receives; `DatasetSpec` is what every loader module hands to
the registry (`rlrec.data.registry`). They live here, below both, so that the loaders never
import the registry that imports them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from rlrec.config import Config

if TYPE_CHECKING:
    from rlrec.data.dataset import Dataset


class SyntheticConfig(Config):
    """Sizes and structure of the synthetic generators."""

    seed: int = Field(0, description="generator seed: same seed, same files")
    n_users: int = Field(300, ge=2, description="users (for Amazon: across all domains)")
    n_items: int = Field(400, ge=2, description="items (for Amazon: per domain)")
    n_genres: int = Field(6, ge=1, le=19, description="genres, the latent taste dimensions")
    ratings_per_user: int = Field(40, ge=1, description="mean ratings per user (and domain)")
    noise: float = Field(0.5, ge=0, description="std of the rating noise, in stars")
    n_domains: int = Field(3, ge=1, description="Amazon: number of domains")
    overlap: float = Field(0.6, ge=0, le=1, description="Amazon: share of users in every domain")
    taste_correlation: float = Field(
        0.8, ge=0, le=1, description="Amazon: correlation of a user's tastes across domains"
    )
    amazon_format: Literal["2014", "2018"] = Field("2014", description="Amazon: dump format")
    profile: Literal["correlated", "sparse"] = Field(
        "correlated",
        description="Amazon: 'correlated' (genre tastes, one correlation) or 'sparse' "
        "(Amazon-like: 4 domains, biases, skew, 5-core, informative / weak / noise sources)",
    )


class DataConfig(Config):
    """Which dataset to load and how."""

    name: str = Field("ml-100k", description="registry name; `rlrec data list` shows them")
    path: Path | None = Field(None, description="local folder or file (needed by some datasets)")
    strict: bool = Field(
        False,
        description="stop at the first malformed record, out-of-scale or repeated rating, "
        "naming its line (default: skip and count them; a repeat keeps the latest rating)",
    )
    rating_scale: tuple[float, float] = Field(
        (1.0, 5.0), description="[low, high]: a rating outside it (or not finite) is malformed"
    )
    domains: list[str] | None = Field(None, description="domains to keep (multi-domain data)")
    kcore: int = Field(0, ge=0, description="k-core filter per domain; 0 keeps everything")
    refresh: bool = Field(False, description="ignore the cache and parse the source again")
    synthetic: SyntheticConfig = Field(
        default_factory=SyntheticConfig, description="sizes of the synthetic generators"
    )

    @model_validator(mode="after")
    def _scale_is_a_range(self) -> DataConfig:
        low, high = self.rating_scale
        if not low < high:
            raise ValueError(f"rating_scale must be [low, high] with low < high, got {low}, {high}")
        return self


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    load: Callable[[DataConfig], Dataset]
    fingerprint: Callable[[DataConfig], dict[str, Any]]
    needs_path: bool = False


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
