"""Domains, the cold-start split and the positive sequences (docs/marco.md#problem-and-split,
docs/marco.md#positive-sequences).

Domains come either from the dataset's `domain` column (Amazon dumps: one domain per file) or,
for a single-domain dataset whose items carry genres (MovieLens-100K), from a genre -> domain
mapping. A movie with several mapped genres goes to ONE domain, chosen by `multi_genre`:
    rarest  the domain, among the movie's candidate domains, with the fewest movies overall
            (ties: the order of `genre_domains`); keeps the domains balanced (default)
    first   the first candidate domain in the order of `genre_domains`
Movies with no mapped genre are dropped. Users are shared across domains.

Cold-start protocol, for a target domain t and a ratio beta:
    overlapping users  the users with ratings in EVERY domain of the task (sorted ids)
    test               round(beta * |co|) of them (seeded permutation): cold-start users,
                       all their target ratings withheld from training
    validation         round(val_fraction * rest) of the others: also cold in the target
    train              the remaining overlapping users: their target ratings train the transfer
    target MF          the target ratings of every user except the test and validation users
Ids: users and each domain's items are mapped to 0..n-1 in sorted order of their raw ids.
Sequences: per source domain, each overlapping user's items rated > `positive_threshold`, in time
order (ties: item index), the most recent `seq_len` kept, right-padded with the domain's pad id
(= its number of items, a masked row). `concat_sequences` builds the released code's single
sequence over all sources (parity).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from rlrec.config import Config
from rlrec.data.dataset import Dataset
from rlrec.errors import ConfigError, DataError

__all__ = [
    "CrossDomainTask",
    "DomainsConfig",
    "Ratings",
    "SplitConfig",
    "build_task",
    "concat_sequences",
    "domain_interactions",
    "positive_sequences",
]

DEFAULT_GENRES = {
    "Drama": ["Drama"],
    "Comedy": ["Comedy"],
    "Action": ["Action", "Adventure"],
    "Thriller": ["Thriller", "Crime", "Mystery"],
}


class DomainsConfig(Config):
    """How domains are formed (genre mapping for single-domain datasets with genres)."""

    genre_domains: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_GENRES.items()},
        description="domain name -> genres it holds (datasets whose items have genres)",
    )
    multi_genre: Literal["rarest", "first"] = Field(
        "rarest", description="domain of a movie with several mapped genres (see module doc)"
    )
    domains: list[str] | None = Field(
        None, description="domains of the task (default: all); the others are dropped"
    )


class SplitConfig(Config):
    """The cold-start split and the sequences."""

    val_fraction: float = Field(
        0.1, ge=0, lt=1, description="validation share of non-test co-users"
    )
    seq_len: int = Field(20, ge=1, description="L: most recent positives kept per source domain")
    positive_threshold: float = Field(3.0, description="a positive is a rating > this")


@dataclass(frozen=True)
class Ratings:
    """Parallel arrays of (user, item, rating, timestamp); users global, items per domain."""

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray
    timestamp: np.ndarray

    def __len__(self) -> int:
        return len(self.user)

    def take(self, mask: np.ndarray) -> Ratings:
        return Ratings(self.user[mask], self.item[mask], self.rating[mask], self.timestamp[mask])


@dataclass
class CrossDomainTask:
    """One (target, beta, seed) task: id maps, ratings per domain, the split, sequences."""

    target: str
    sources: list[str]
    beta: float
    seed: int
    user_ids: np.ndarray  # raw ids, sorted; index = global user id
    item_ids: dict[str, np.ndarray]  # per domain, raw ids sorted; index = item id
    ratings: dict[str, Ratings]  # all ratings per domain (target included)
    co_users: np.ndarray  # overlapping users (global ids, sorted)
    users: dict[str, np.ndarray]  # "train" / "val" / "test" -> global ids (sorted)
    seqs: dict[str, np.ndarray] = field(default_factory=dict)  # source -> [n_co, L] item ids
    co_row: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # user -> co row

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    def n_items(self, domain: str) -> int:
        return len(self.item_ids[domain])

    @property
    def rating_range(self) -> tuple[float, float]:
        r = self.ratings[self.target].rating
        return float(r.min()), float(r.max())

    def target_ratings(self, split: str) -> Ratings:
        """Target ratings of the overlapping users of `split` ("train" / "val" / "test")."""
        tgt = self.ratings[self.target]
        return tgt.take(np.isin(tgt.user, self.users[split]))

    def target_mf_ratings(self) -> Ratings:
        """What the target MF may see: every target rating except the val and test users'."""
        tgt = self.ratings[self.target]
        cold = np.concatenate([self.users["val"], self.users["test"]])
        return tgt.take(~np.isin(tgt.user, cold))

    def summary(self) -> dict[str, object]:
        return {
            "target": self.target,
            "sources": self.sources,
            "beta": self.beta,
            "seed": self.seed,
            "users": self.n_users,
            "items": {d: self.n_items(d) for d in [*self.sources, self.target]},
            "ratings": {d: len(r) for d, r in self.ratings.items()},
            "overlapping_users": len(self.co_users),
            "split_users": {k: len(v) for k, v in self.users.items()},
            "split_target_ratings": {k: len(self.target_ratings(k)) for k in self.users},
        }


def domain_interactions(ds: Dataset, cfg: DomainsConfig) -> pd.DataFrame:
    """The interactions with their task domain: the dataset's own domains, or genre domains."""
    inter = ds.interactions
    if inter["rating"].isna().all():
        raise DataError(f"dataset {ds.name!r} has no explicit ratings; MARCO needs ratings")
    if inter["domain"].nunique() == 1 and "genres" in ds.items.columns:
        inter = _genre_domains(inter, ds.items, cfg)
    inter = inter.dropna(subset=["rating"])
    if cfg.domains is not None:
        missing = sorted(set(cfg.domains) - set(inter["domain"].unique()))
        if missing:
            raise ConfigError(
                f"domains {missing} not in the data; it has {sorted(inter['domain'].unique())}"
            )
        inter = inter[inter["domain"].isin(cfg.domains)]
    if inter["domain"].nunique() < 2:
        raise DataError("cross-domain transfer needs at least two domains")
    return inter.reset_index(drop=True)


def _genre_domains(inter: pd.DataFrame, items: pd.DataFrame, cfg: DomainsConfig) -> pd.DataFrame:
    order = list(cfg.genre_domains)
    genre_to_domain = {g: d for d, gs in cfg.genre_domains.items() for g in gs}
    candidates = [
        sorted({order.index(genre_to_domain[g]) for g in list(gs) if g in genre_to_domain})
        for gs in items["genres"]
    ]
    sizes = np.zeros(len(order))
    for cands in candidates:
        sizes[cands] += 1
    rank = np.argsort(np.argsort(sizes, kind="stable"), kind="stable")  # rarest first
    chosen = [
        (min(c, key=lambda d: rank[d]) if cfg.multi_genre == "rarest" else c[0]) if c else -1
        for c in candidates
    ]
    domain_of = pd.Series(
        [order[c] if c >= 0 else None for c in chosen], index=items["item_id"].to_numpy()
    )
    out = inter.copy()
    out["domain"] = domain_of.reindex(out["item_id"].to_numpy()).to_numpy()
    return out.dropna(subset=["domain"])


def build_task(
    inter: pd.DataFrame, target: str, beta: float, seed: int, cfg: SplitConfig
) -> CrossDomainTask:
    """The cold-start task for `target` (all other domains are sources); see module doc."""
    domains = sorted(inter["domain"].unique())
    if target not in domains:
        raise ConfigError(f"target domain {target!r} not in the data; domains: {domains}")
    if not 0 < beta < 1:
        raise ConfigError(f"beta must be in (0, 1), got {beta}")
    sources = [d for d in domains if d != target]
    user_ids = np.sort(inter["user_id"].unique())
    user_index = pd.Index(user_ids)
    ratings, item_ids, present = {}, {}, []
    for d in domains:
        part = inter[inter["domain"] == d]
        item_ids[d] = np.sort(part["item_id"].unique())
        ratings[d] = Ratings(
            user=user_index.get_indexer(part["user_id"]).astype(np.int64),
            item=pd.Index(item_ids[d]).get_indexer(part["item_id"]).astype(np.int64),
            rating=part["rating"].to_numpy(np.float32),
            timestamp=part["timestamp"].to_numpy(np.int64),
        )
        present.append(np.unique(ratings[d].user))
    co_users = present[0]
    for p in present[1:]:
        co_users = np.intersect1d(co_users, p)
    if len(co_users) < 10:
        raise DataError(f"only {len(co_users)} users are in every domain {domains}; need >= 10")
    perm = np.random.default_rng(seed).permutation(co_users)
    n_test = round(beta * len(co_users))
    rest = perm[n_test:]
    n_val = round(cfg.val_fraction * len(rest))
    users = {
        "train": np.sort(rest[n_val:]),
        "val": np.sort(rest[:n_val]),
        "test": np.sort(perm[:n_test]),
    }
    co_row = np.full(len(user_ids), -1, np.int64)
    co_row[co_users] = np.arange(len(co_users))
    task = CrossDomainTask(
        target, sources, beta, seed, user_ids, item_ids, ratings, co_users, users, co_row=co_row
    )
    task.seqs = {
        d: positive_sequences(
            ratings[d], co_users, len(item_ids[d]), cfg.seq_len, cfg.positive_threshold
        )
        for d in sources
    }
    return task


def positive_sequences(
    ratings: Ratings, users: np.ndarray, pad: int, seq_len: int, threshold: float
) -> np.ndarray:
    """[len(users), seq_len] item ids rated > threshold, chronological, the last seq_len kept,
    right-padded with `pad`. `users` must be sorted."""
    keep = (ratings.rating > threshold) & np.isin(ratings.user, users)
    u, i, t = ratings.user[keep], ratings.item[keep], ratings.timestamp[keep]
    order = np.lexsort((i, t, u))  # by user, then time, then item
    u, i = u[order], i[order]
    row = np.searchsorted(users, u)
    counts = np.bincount(row, minlength=len(users))
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos_from_end = counts[row] - 1 - (np.arange(len(u)) - start[row])  # 0 = most recent
    kept = pos_from_end < seq_len
    n_kept = np.minimum(counts, seq_len)
    col = n_kept[row] - 1 - pos_from_end
    out = np.full((len(users), seq_len), pad, np.int64)
    out[row[kept], col[kept]] = i[kept]
    return out


def concat_sequences(task: CrossDomainTask, seq_len: int, threshold: float) -> np.ndarray:
    """Parity: ONE sequence per overlapping user over all sources, in source order (the release
    concatenates Books, Movies, Electronics rows), ids in a global source-item space (domain d's
    items offset by the item counts of the sources before it), the last `seq_len` kept,
    right-padded with the total number of source items."""
    offsets = np.cumsum([0] + [task.n_items(d) for d in task.sources])
    parts = [
        Ratings(r.user, r.item + offsets[k], r.rating, np.full(len(r), k, np.int64))
        for k, r in ((k, task.ratings[d]) for k, d in enumerate(task.sources))
    ]
    merged = Ratings(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in Ratings.__dataclass_fields__)
    )
    return positive_sequences(merged, task.co_users, int(offsets[-1]), seq_len, threshold)
