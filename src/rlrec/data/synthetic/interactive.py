"""`synthetic-interactive`: MovieLens-format ratings with known genre tastes.

Latent structure: item j has one or two genres (a 0/1 vector g_j over `n_genres`) and a quality
q_j ~ N(0, 0.5); user u has a taste vector t_u ~ Dirichlet(0.3) over genres. A user's affinity to
an item, z_uj, is <t_u, g_j> / |g_j| standardised over all (user, item) pairs. Users pick items
with probability proportional to exp(0.8 z_uj) (they seek what they like), and rate them
    r_uj = clip(round(3 + 0.8 z_uj + q_j + N(0, noise)), 1, 5),
which gives a star distribution close to MovieLens' (about 3/15/28/26/28 % for 1..5 stars).
The files are GroupLens' `u.data`, `u.item`, `u.user`, `u.genre`, read by the same parser as the
real MovieLens-100K; `truth.npz` holds t, g and q.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rlrec.atomic import write_bytes
from rlrec.data.config import SyntheticConfig
from rlrec.data.movielens import GENRES

_WORDS_A = (
    "Silent", "Broken", "Golden", "Last", "Hidden", "Crimson", "Lost", "Electric", "Wild",
    "Frozen", "Midnight", "Burning", "Distant", "Secret", "Iron", "Velvet", "Hollow", "Bright",
)  # fmt: skip
_WORDS_B = (
    "River", "Empire", "Garden", "Station", "Horizon", "Letter", "Harbor", "Kingdom", "Signal",
    "Orchard", "Mirror", "Frontier", "Voyage", "Island", "Machine", "Promise", "Storm", "Canyon",
)  # fmt: skip
_OCCUPATIONS = ("student", "engineer", "educator", "artist", "doctor", "writer", "other")


def write_interactive(folder: Path, cfg: SyntheticConfig) -> None:
    """Write the GroupLens files into `folder` (skipped when already complete)."""
    folder = Path(folder)
    if (folder / "truth.npz").is_file():
        return
    rng = np.random.default_rng(cfg.seed)
    n_users, n_items, n_genres = cfg.n_users, cfg.n_items, cfg.n_genres
    genre_names = GENRES[1 : n_genres + 1]  # skip "unknown"

    item_genres = np.zeros((n_items, n_genres), dtype=np.float32)
    item_genres[np.arange(n_items), rng.integers(0, n_genres, n_items)] = 1.0
    second = rng.random(n_items) < 0.3
    item_genres[np.flatnonzero(second), rng.integers(0, n_genres, int(second.sum()))] = 1.0
    quality = rng.normal(0.0, 0.5, n_items).astype(np.float32)
    tastes = rng.dirichlet(np.full(n_genres, 0.3), n_users).astype(np.float32)
    affinity = (tastes @ item_genres.T) / item_genres.sum(1)  # [U, I]
    affinity = (affinity - affinity.mean()) / max(float(affinity.std()), 1e-8)

    n_rated = np.clip(rng.poisson(cfg.ratings_per_user, n_users), 5, n_items)
    rows = []
    t0 = 880_000_000
    for u in range(n_users):  # one draw per user; generation only, never a training hot path
        p = np.exp(0.8 * (affinity[u] - affinity[u].max()))
        items = rng.choice(n_items, size=n_rated[u], replace=False, p=p / p.sum())
        noise = rng.normal(0.0, cfg.noise, n_rated[u])
        stars = np.clip(np.rint(3.0 + 0.8 * affinity[u, items] + quality[items] + noise), 1, 5)
        times = t0 + np.cumsum(rng.integers(60, 86_400, n_rated[u]))
        rows += [
            f"{u + 1}\t{i + 1}\t{int(s)}\t{int(t)}"
            for i, s, t in zip(items, stars, times, strict=True)
        ]

    years = rng.integers(1950, 2000, n_items)
    titles = [
        f"The {_WORDS_A[a]} {_WORDS_B[b]}"
        for a, b in zip(
            rng.integers(0, len(_WORDS_A), n_items),
            rng.integers(0, len(_WORDS_B), n_items),
            strict=True,
        )
    ]
    item_lines = []
    for j in range(n_items):
        flags = ["0"] + [str(int(f)) for f in item_genres[j]] + ["0"] * (18 - n_genres)
        date = f"01-Jan-{years[j]}"
        url = f"http://example.org/movie/{j + 1}"
        item_lines.append(
            "|".join([str(j + 1), f"{titles[j]} ({years[j]})", date, "", url, *flags])
        )
    ages = rng.integers(15, 70, n_users)
    genders = rng.choice(["M", "F"], n_users)
    jobs = rng.choice(_OCCUPATIONS, n_users)
    user_lines = [
        f"{u + 1}|{ages[u]}|{genders[u]}|{jobs[u]}|{10000 + u:05d}" for u in range(n_users)
    ]
    genre_lines = [f"{g}|{i}" for i, g in enumerate(GENRES)]

    write_bytes(folder / "u.data", ("\n".join(rows) + "\n").encode())
    write_bytes(folder / "u.item", ("\n".join(item_lines) + "\n").encode("latin-1"))
    write_bytes(folder / "u.user", ("\n".join(user_lines) + "\n").encode())
    write_bytes(folder / "u.genre", ("\n".join(genre_lines) + "\n\n").encode())
    with (folder / "truth.tmp.npz").open("wb") as f:
        np.savez(f, tastes=tastes, item_genres=item_genres, quality=quality,
                 genre_names=np.array(genre_names))  # fmt: skip
    (folder / "truth.tmp.npz").replace(folder / "truth.npz")
