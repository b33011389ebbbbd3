"""`synthetic-amazon`: Amazon review dumps over several domains with correlated user tastes.

Latent structure, with c = `taste_correlation`, G = `n_genres`, D = `n_domains`:
    shared taste     s_u ~ N(0, I_G)
    domain taste     t_du = sqrt(c) s_u + sqrt(1 - c) e_du,  e_du ~ N(0, I_G),
                     so corr(t_du[g], t_d'u[g]) = c for any two domains d != d'
    item factors     v_dj = g_dj / sqrt(|g_dj|), g_dj a 0/1 genre vector (a main genre, and a
                     second one for 30% of items); quality q_dj ~ N(0, 0.5)
    expected stars   m_duj = 3 + 0.8 <t_du, v_dj> + q_dj
A share `overlap` of the users is in every domain; each other user is in a random non-empty
proper subset of the domains (all of them when D = 1), so exactly round(overlap * n_users)
users are in all domains. In each of its domains a user rates max(5, Poisson(ratings_per_user))
items (at most n_items), drawn without replacement with probability proportional to
exp(0.8 (m_duj - 3)) (people review what they like), with stars
    r_duj = clip(round(m_duj + N(0, noise)), 1, 5),
and review times increasing by whole days (Amazon's unixReviewTime is a date).

`synthetic.profile=sparse` writes a different, Amazon-like world with a planted truth
(amazon_sparse.py): sparse, skewed, biased, 5-core, one informative, one weak and one noise
source per target, and a report of the reference errors (`truth.json`).

Files: `reviews_<Domain>_5.json.gz` (2014 format) or `<Domain>_5.json.gz` (2018 format: `vote`
as "1,234" on some records, `verified`, `style`), read by the real loader, and `truth.npz`
(written last; its presence means the folder is complete). Same config, same bytes.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import numpy as np

from rlrec.atomic import atomic_path
from rlrec.data.config import SyntheticConfig
from rlrec.data.synthetic.amazon_sparse import membership, write_sparse

__all__ = ["domain_names", "write_amazon"]

REAL_DOMAINS = ("Books", "CDs_and_Vinyl", "Movies_and_TV", "Electronics")
SCALE = 0.8  # stars per unit of taste-item affinity
CHOICE_TEMPERATURE = 0.8  # strength of the pull toward liked items when choosing what to rate
_ALPHABET = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
_T0 = int(dt.datetime(2004, 1, 1, tzinfo=dt.UTC).timestamp())
_DAY = 86_400
_STYLES = ("Hardcover", "Paperback", "Kindle Edition", "Audio CD", "DVD", "Blu-ray")


def domain_names(n_domains: int) -> list[str]:
    """Books, CDs_and_Vinyl, Movies_and_TV, Electronics, then Domain5, Domain6..."""
    return [
        REAL_DOMAINS[d] if d < len(REAL_DOMAINS) else f"Domain{d + 1}" for d in range(n_domains)
    ]


def write_amazon(folder: Path, cfg: SyntheticConfig) -> None:
    """Write one review dump per domain and `truth.npz` into `folder` (skipped when complete)."""
    folder = Path(folder)
    if (folder / "truth.npz").is_file():
        return
    if cfg.profile == "sparse":
        _write_sparse(folder, cfg)
        return
    rng = np.random.default_rng(cfg.seed)
    n_users, n_items, n_genres, n_domains = cfg.n_users, cfg.n_items, cfg.n_genres, cfg.n_domains
    names = domain_names(n_domains)
    c = cfg.taste_correlation

    shared = rng.standard_normal((n_users, n_genres))
    tastes = np.sqrt(c) * shared + np.sqrt(1 - c) * rng.standard_normal(
        (n_domains, n_users, n_genres)
    )  # [D, U, G]
    members = membership(rng, n_users, n_domains, cfg.overlap)  # [U, D]
    main_genre = rng.integers(0, n_genres, (n_domains, n_items))
    genres = np.zeros((n_domains, n_items, n_genres))
    d_idx, j_idx = np.meshgrid(np.arange(n_domains), np.arange(n_items), indexing="ij")
    genres[d_idx, j_idx, main_genre] = 1.0
    second = rng.random((n_domains, n_items)) < 0.3
    genres[d_idx[second], j_idx[second], rng.integers(0, n_genres, int(second.sum()))] = 1.0
    factors = genres / np.sqrt(genres.sum(-1, keepdims=True))  # [D, I, G]
    quality = rng.normal(0.0, 0.5, (n_domains, n_items))
    user_ids = _ids(rng, "A", 13, n_users)
    item_ids = _ids(rng, "B", 9, n_domains * n_items).reshape(n_domains, n_items)

    for d, name in enumerate(names):
        users = np.flatnonzero(members[:, d])
        mean = 3.0 + SCALE * tastes[d, users] @ factors[d].T + quality[d]  # [U_d, I]
        rows = _draw_ratings(rng, cfg, mean)
        records = _records(rng, cfg, user_ids[users], item_ids[d], rows)
        file = f"reviews_{name}_5.json.gz" if cfg.amazon_format == "2014" else f"{name}_5.json.gz"
        _write_gzip_lines(folder / file, records)

    with atomic_path(folder / "truth.npz") as tmp, open(tmp, "wb") as f:
        np.savez_compressed(
            f,
            domains=np.array(names),
            shared_taste=shared.astype(np.float32),
            taste=tastes.astype(np.float32),
            membership=members,
            item_factors=factors.astype(np.float32),
            item_genre=main_genre,
            item_quality=quality.astype(np.float32),
            user_ids=user_ids,
            item_ids=item_ids,
            scale=np.float32(SCALE),
            noise=np.float32(cfg.noise),
        )


def _write_sparse(folder: Path, cfg: SyntheticConfig) -> None:
    """The `sparse` profile (amazon_sparse.py): its ratings in the same dump format."""
    rng = np.random.default_rng(cfg.seed)
    names = domain_names(4)
    user_ids = _ids(rng, "A", 13, cfg.n_users)
    item_ids = _ids(rng, "B", 9, 4 * cfg.n_items).reshape(4, cfg.n_items)
    rows, truth = write_sparse(folder, cfg, names, user_ids, item_ids, rng)
    for d, name in enumerate(names):
        user, item, stars, day = rows[d]
        records = _records(rng, cfg, user_ids, item_ids[d], (user, item, stars, day))
        file = f"reviews_{name}_5.json.gz" if cfg.amazon_format == "2014" else f"{name}_5.json.gz"
        _write_gzip_lines(folder / file, records)
    with atomic_path(folder / "truth.npz") as tmp, open(tmp, "wb") as f:
        np.savez_compressed(
            f, domains=np.array(names), user_ids=user_ids, item_ids=item_ids, **truth
        )


def _ids(rng: np.random.Generator, prefix: str, length: int, n: int) -> np.ndarray:
    """n distinct ids like Amazon's: `prefix` plus `length` upper-case letters and digits."""
    while True:
        chars = _ALPHABET[rng.integers(0, len(_ALPHABET), (n, length))]
        ids = np.array([prefix + "".join(row) for row in chars])
        if len(np.unique(ids)) == n:
            return ids


def _draw_ratings(
    rng: np.random.Generator, cfg: SyntheticConfig, mean: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(user row, item, stars, day) for every rating in one domain, users' days increasing.

    Sampling without replacement proportional to exp(w) is the Gumbel top-k trick: the k
    largest of w + Gumbel noise.
    """
    n_users, n_items = mean.shape
    k = np.clip(rng.poisson(cfg.ratings_per_user, n_users), 5, n_items)
    keys = CHOICE_TEMPERATURE * (mean - 3.0) + rng.gumbel(size=mean.shape)
    chosen = np.argsort(-keys, axis=1, kind="stable")[:, : k.max()]  # [U, K], best first
    taken = np.arange(chosen.shape[1]) < k[:, None]
    # review in a random order, not best-first
    order = np.argsort(np.where(taken, rng.random(chosen.shape), np.inf), axis=1, kind="stable")
    chosen = np.take_along_axis(chosen, order, axis=1)
    user = np.repeat(np.arange(n_users), k)
    item = chosen[taken]
    noisy = mean[user, item] + rng.normal(0.0, cfg.noise, len(item))
    stars = np.clip(np.rint(noisy), 1, 5)
    start = rng.integers(0, 8 * 365, n_users)  # first review within 2004-2011
    gaps = np.where(taken, rng.integers(1, 60, chosen.shape), 0)
    day = (start[:, None] + np.cumsum(gaps, axis=1))[taken]
    return user, item, stars, day


def _records(
    rng: np.random.Generator,
    cfg: SyntheticConfig,
    user_ids: np.ndarray,
    item_ids: np.ndarray,
    rows: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> list[str]:
    """One JSON line per rating, in the dump's order (by asin, then reviewer)."""
    user, item, stars, day = rows
    order = np.lexsort((user_ids[user], item_ids[item]))
    user, item, stars, day = user[order], item[order], stars[order], day[order]
    n = len(user)
    helpful = rng.integers(0, 4, (n, 2))
    votes = np.floor(np.exp(rng.exponential(2.0, n))).astype(np.int64) + 1  # heavy tail
    has_vote = rng.random(n) < 0.3
    verified = rng.random(n) < 0.8
    style = rng.integers(0, len(_STYLES), n)
    lines = []
    for r in range(n):
        u, j, s = str(user_ids[user[r]]), str(item_ids[item[r]]), float(stars[r])
        when = _T0 + int(day[r]) * _DAY
        date = dt.datetime.fromtimestamp(when, dt.UTC)
        common = {
            "reviewerID": u,
            "asin": j,
            "reviewerName": f"Reader {u[-4:]}",
            "reviewText": f"Synthetic review of {j}: {int(s)} stars.",
            "overall": s,
            "summary": f"{int(s)} stars",
            "unixReviewTime": when,
            "reviewTime": f"{date.month:02d} {date.day}, {date.year}",
        }
        if cfg.amazon_format == "2014":
            record = {**common, "helpful": [int(min(helpful[r])), int(max(helpful[r]))]}
        else:
            record = {"overall": s, "verified": bool(verified[r]), **common}
            record["style"] = {"Format:": f" {_STYLES[style[r]]}"}
            if has_vote[r]:
                record["vote"] = f"{int(votes[r]):,}"
        lines.append(json.dumps(record))
    return lines


def _write_gzip_lines(dest: Path, lines: list[str]) -> None:
    """Gzip with a zero mtime and no file name in the header, so the bytes depend on content."""
    with (
        atomic_path(dest) as tmp,
        open(tmp, "wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=6, mtime=0) as gz,
    ):
        gz.write("".join(line + "\n" for line in lines).encode("utf-8"))
