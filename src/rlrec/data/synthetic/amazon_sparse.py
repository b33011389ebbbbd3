"""`synthetic-amazon` with `synthetic.profile=sparse`: four Amazon-like domains with a planted
truth that cross-domain cold-start methods can be scored against.

It behaves like the real 2014 5-core dumps (15-40 ratings per user and domain, 1-3 % density,
stars skewed to 4-5, user and item biases, popularity skew, people rate what they like) while
knowing, for every rating, what the best possible prediction was and what an ideal transfer from
each source domain could know.

Latent structure (domains 0..3 = Books, CDs_and_Vinyl, Movies_and_TV, Electronics):
    domain correlation  C[0,1] = C[2,3] = strong (`taste_correlation`), C[0,2] = C[1,3] = WEAK,
                        C[0,3] = C[1,2] = 0: every target has one informative source, one weak
                        source and one noise source (e.g. Books: CDs strong, Movies weak,
                        Electronics none). C is positive definite while strong + WEAK < 1.
    user tastes         t_du ~ N(0, I_G) per domain, t_.u[g] ~ N(0, C) across domains
    user biases         a_du ~ N(0, C) across domains, b_du = USER_BIAS * a_du
    item factors        f_dj ~ N(0, I_G / G); item bias b_dj ~ N(0, ITEM_BIAS^2);
                        popularity p_dj ~ N(0, POPULARITY^2)
    expected stars      m_duj = MU + b_du + b_dj + SCALE * <t_du, f_dj>
    stars               clip(round(m_duj + N(0, noise^2)), 1, 5), and 1 for a random
                        DISAPPOINTED share of the ratings (Amazon's J-shaped histogram)
Which items a user rates: 15-40 per domain (uniform), without replacement with probability
proportional to exp(CHOICE * (m_duj - MU) + p_dj). Users: round(overlap * n_users) in all four
domains, every other user in a random non-empty proper subset. Then each domain is reduced to
its 5-core (users and items with at least 5 ratings, until stable), like the real dumps.

`truth.json` beside the dumps reports, per target domain, on the target ratings of the users in
every domain, the MAE / RMSE of: the constant (mean stars), the item-only predictor
clip(MU + b_dj), the ideal transfer from each source s (clip of E[m | that user's taste and bias
in s], i.e. with C[t, s] t_su in place of t_tu), the ideal transfer from all sources together
(E[m | all source tastes]) and the oracle clip(m_duj). `truth_predictions` computes the same
predictors for any (user, item) pairs, so an experiment can add them as reference rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rlrec.atomic import write_text
from rlrec.errors import ConfigError

__all__ = ["correlation", "membership", "truth_predictions", "write_sparse"]

MU = 3.8  # mean expected stars: with clipping, about half the ratings are 5
USER_BIAS = 0.6
ITEM_BIAS = 0.6
SCALE = 0.8  # stars per unit of taste-item affinity
WEAK = 0.15  # correlation of a target with its weak source
POPULARITY = 1.0  # std of the log-popularity of items
CHOICE = 0.8  # pull toward liked items when choosing what to rate
PER_USER = (15, 40)  # ratings per user and domain, before the 5-core
KCORE = 5
DISAPPOINTED = 0.04  # share of 1-star ratings no model can foresee (the J-shape)


def correlation(strong: float) -> np.ndarray:
    """[4, 4] cross-domain correlation of tastes and biases (module doc)."""
    c = np.eye(4)
    for a, b, r in ((0, 1, strong), (2, 3, strong), (0, 2, WEAK), (1, 3, WEAK)):
        c[a, b] = c[b, a] = r
    return c


def write_sparse(folder: Path, cfg, names: list[str], user_ids: np.ndarray, item_ids, rng):
    """Draw the latent truth and the ratings; returns (per-domain rating rows, truth arrays).

    `user_ids` [U] and `item_ids` [D, I] are the raw ids; `rng` the generator's stream. The
    caller writes the dumps; this writes `truth.json` and returns what goes into `truth.npz`.
    """
    n_users, n_items, n_genres = cfg.n_users, cfg.n_items, cfg.n_genres
    if "n_domains" in cfg.model_fields_set and cfg.n_domains != 4:
        raise ConfigError(
            f"synthetic.profile=sparse has four domains; got synthetic.n_domains={cfg.n_domains}"
        )
    if cfg.taste_correlation + WEAK >= 1:
        raise ConfigError(
            f"synthetic.taste_correlation must be below {1 - WEAK} for the sparse profile "
            f"(the strong and weak correlations must sum to less than 1)"
        )
    corr = correlation(cfg.taste_correlation)
    chol = np.linalg.cholesky(corr)
    taste = np.einsum("de,uge->dug", chol, rng.standard_normal((n_users, n_genres, 4)))
    user_bias = USER_BIAS * (chol @ rng.standard_normal((4, n_users)))  # [D, U]
    factors = rng.standard_normal((4, n_items, n_genres)) / np.sqrt(n_genres)
    item_bias = rng.normal(0.0, ITEM_BIAS, (4, n_items))
    popularity = rng.normal(0.0, POPULARITY, (4, n_items))
    members = membership(rng, n_users, 4, cfg.overlap)

    rows = []
    for d in range(4):
        users = np.flatnonzero(members[:, d])
        mean = (
            MU + user_bias[d, users, None] + item_bias[d] + SCALE * taste[d, users] @ factors[d].T
        )
        keys = CHOICE * (mean - MU) + popularity[d] + rng.gumbel(size=mean.shape)
        k = rng.integers(PER_USER[0], PER_USER[1] + 1, len(users)).clip(max=n_items)
        chosen = np.argsort(-keys, axis=1, kind="stable")[:, : k.max()]
        taken = np.arange(chosen.shape[1]) < k[:, None]
        order = np.argsort(np.where(taken, rng.random(chosen.shape), np.inf), axis=1, kind="stable")
        chosen = np.take_along_axis(chosen, order, axis=1)  # review in a random order
        user = np.repeat(users, k)
        item = chosen[taken]
        m = mean[np.repeat(np.arange(len(users)), k), item]
        stars = np.clip(np.rint(m + rng.normal(0.0, cfg.noise, len(m))), 1, 5)
        stars[rng.random(len(m)) < DISAPPOINTED] = 1.0
        start = rng.integers(0, 8 * 365, len(users))
        gaps = np.where(taken, rng.integers(1, 60, chosen.shape), 0)
        day = (start[:, None] + np.cumsum(gaps, axis=1))[taken]
        keep = _kcore(user, item, KCORE)
        rows.append((user[keep], item[keep], stars[keep], day[keep]))

    truth = {
        "correlation": corr,
        "taste": taste.astype(np.float32),
        "user_bias": user_bias.astype(np.float32),
        "item_factors": factors.astype(np.float32),
        "item_bias": item_bias.astype(np.float32),
        "item_popularity": popularity.astype(np.float32),
        "membership": members,
        "mu": np.float32(MU),
        "scale": np.float32(SCALE),
    }
    report = _report(truth, names, rows, members)
    write_text(folder / "truth.json", json.dumps(report, indent=2) + "\n")
    return rows, truth


def membership(rng: np.random.Generator, n_users: int, n_domains: int, overlap: float):
    """[U, D] bool: the first round(overlap * U) of a random order in all domains, the rest
    in a random non-empty proper subset (redrawn until it is one). Both Amazon profiles."""
    members = np.ones((n_users, n_domains), dtype=bool)
    if n_domains == 1:
        return members
    todo = rng.permutation(n_users)[round(overlap * n_users) :]
    while len(todo):
        draw = rng.random((len(todo), n_domains)) < 0.5
        members[todo] = draw
        n_in = draw.sum(1)
        todo = todo[(n_in == 0) | (n_in == n_domains)]
    return members


def _kcore(user: np.ndarray, item: np.ndarray, k: int) -> np.ndarray:
    """Mask of the ratings in the k-core of one domain's (user, item) graph."""
    keep = np.ones(len(user), dtype=bool)
    while True:
        uc = np.bincount(user[keep], minlength=user.max() + 1)
        ic = np.bincount(item[keep], minlength=item.max() + 1)
        new = keep & (uc[user] >= k) & (ic[item] >= k)
        if new.sum() == keep.sum():
            return keep
        keep = new


def truth_predictions(
    truth: dict[str, np.ndarray], target: int, sources: list[int], users, items
) -> dict[str, np.ndarray]:
    """Reference predictions for target-domain pairs (truth indices): `oracle`, `item-only`,
    `ideal[<source index>]` per source and `ideal-all` (module doc); all clipped to 1-5."""
    c = truth["correlation"]
    f = truth["item_factors"][target, items]  # [N, G]
    base = truth["mu"] + truth["item_bias"][target, items]

    def expected(taste: np.ndarray, bias: np.ndarray) -> np.ndarray:
        return np.clip(base + bias + truth["scale"] * (taste * f).sum(-1), 1, 5)

    out = {
        "oracle": expected(truth["taste"][target, users], truth["user_bias"][target, users]),
        "item-only": np.clip(base, 1, 5),
    }
    for s in sources:
        out[f"ideal[{s}]"] = expected(
            c[target, s] * truth["taste"][s, users], c[target, s] * truth["user_bias"][s, users]
        )
    coef = np.linalg.solve(c[np.ix_(sources, sources)], c[sources, target])  # E[t_t | t_S]
    out["ideal-all"] = expected(
        np.einsum("s,sng->ng", coef, truth["taste"][sources][:, users]),
        np.einsum("s,sn->n", coef, truth["user_bias"][sources][:, users]),
    )
    return out


def _report(truth, names, rows, members) -> dict:
    """Per target domain: MAE / RMSE of the reference predictors on the overlapping users."""
    out = {"domains": names, "correlation": np.asarray(truth["correlation"]).tolist()}
    everywhere = members.all(1)
    for t, name in enumerate(names):
        user, item, stars, _ = rows[t]
        sel = everywhere[user]
        u, i, y = user[sel], item[sel], stars[sel]
        sources = [s for s in range(4) if s != t]
        preds = truth_predictions(truth, t, sources, u, i)
        preds = {_name(k, names): v for k, v in preds.items()}
        preds["constant"] = np.full(len(y), stars.mean())
        out[name] = {
            "ratings": len(stars),
            "users": len(np.unique(user)),
            "items": len(np.unique(item)),
            "density": len(stars) / (len(np.unique(user)) * len(np.unique(item))),
            "mean_stars": float(stars.mean()),
            "star_shares": {str(s): float((stars == s).mean()) for s in range(1, 6)},
            "overlapping_ratings": len(y),
            "mae": {k: float(np.abs(p - y).mean()) for k, p in preds.items()},
            "rmse": {k: float(np.sqrt(((p - y) ** 2).mean())) for k, p in preds.items()},
        }
    return out


def _name(key: str, names: list[str]) -> str:
    if key.startswith("ideal[") and key.endswith("]"):
        return f"ideal[{names[int(key[6:-1])]}]"
    return key
