"""Seeded synthetic datasets with known latent structure, written in the real raw formats.

Each generator writes files that a real loader reads (`synthetic-interactive`: the GroupLens
MovieLens-100K layout; `synthetic-amazon`: Amazon review dumps, one gzip file per domain), so the
same parsing code runs on synthetic and real data. The latent truth (user tastes, item genres)
is saved beside the raw files as `truth.npz` for tests that check what a model recovers.
Same config and seed, byte-identical raw files (and equal arrays in `truth.npz`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rlrec.data.config import DataConfig, DatasetSpec, SyntheticConfig

if TYPE_CHECKING:
    from rlrec.data.dataset import Dataset


GENERATOR_VERSION = 1  # bump when a generator's output changes: old raw folders are then unused


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
    ds.meta["truth"] = str(folder / "truth.npz")
    return ds


def specs() -> tuple[DatasetSpec, DatasetSpec]:
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


__all__ = ["GENERATOR_VERSION", "SyntheticConfig", "specs"]
