"""Seeded synthetic datasets with known latent structure, written in the real raw formats.

Each generator writes files that a real loader reads (`synthetic-interactive`: the GroupLens
MovieLens-100K layout; `synthetic-amazon`: Amazon review dumps, one gzip file per domain), so the
same parsing code runs on synthetic and real data. The latent truth (user tastes, item genres)
is saved beside the raw files as `truth.npz` for tests that check what a model recovers.
Same config and seed, byte-identical raw files (and equal arrays in `truth.npz`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from rlrec.config import Config

if TYPE_CHECKING:
    from rlrec.data.dataset import Dataset
    from rlrec.data.registry import DataConfig, DatasetSpec


GENERATOR_VERSION = 1  # bump when a generator's output changes: old raw folders are then unused


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


def _raw_folder(name: str, cfg: DataConfig):
    from rlrec.atomic import sha256_json
    from rlrec.data import cache

    key = sha256_json({"v": GENERATOR_VERSION, **cfg.synthetic.model_dump()})
    return cache.data_dir(f"{name}-raw", key[:16])


def _fingerprint(cfg: DataConfig) -> dict:
    return {
        "generator": GENERATOR_VERSION,
        "synthetic": cfg.synthetic.model_dump(),
        "kcore": cfg.kcore,
        "domains": cfg.domains,
    }


def _load_interactive(cfg: DataConfig) -> Dataset:
    from rlrec.data import movielens
    from rlrec.data.synthetic.interactive import write_interactive

    folder = _raw_folder("synthetic-interactive", cfg)
    write_interactive(folder, cfg.synthetic)
    ds = movielens.read_folder(folder)
    ds.name = "synthetic-interactive"
    ds.meta["source"] = f"synthetic (seed {cfg.synthetic.seed}) at {folder}"
    return ds


def _load_amazon(cfg: DataConfig) -> Dataset:
    from rlrec.data import amazon
    from rlrec.data.synthetic.amazon import write_amazon

    folder = _raw_folder("synthetic-amazon", cfg)
    write_amazon(folder, cfg.synthetic)
    ds = amazon.read_reviews(folder, strict=True, domains=cfg.domains, kcore=cfg.kcore)
    ds.name = "synthetic-amazon"
    ds.meta["source"] = f"synthetic (seed {cfg.synthetic.seed}) at {folder}"
    return ds


def specs() -> tuple[DatasetSpec, DatasetSpec]:
    from rlrec.data.registry import DatasetSpec

    return (
        DatasetSpec(
            name="synthetic-interactive",
            description="seeded MovieLens-format ratings: users with genre tastes, titled items",
            load=_load_interactive,
            fingerprint=_fingerprint,
        ),
        DatasetSpec(
            name="synthetic-amazon",
            description="seeded Amazon review dumps: several domains, overlapping users whose "
            "tastes correlate across domains",
            load=_load_amazon,
            fingerprint=_fingerprint,
        ),
    )
