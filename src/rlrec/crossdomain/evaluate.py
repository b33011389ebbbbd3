"""Cold-start evaluation (docs/marco.md#evaluation).

Rating metrics: MAE and RMSE over every test rating of the cold-start users (rating-level, as
the release), and the same with predictions clipped to the rating range (`*_clipped`).

Ranking protocol (the paper's is unpublished, so this one is ours): for each cold-start user with
at least one relevant test item (target rating > `threshold`), the candidates are the user's
relevant test items plus `n_negatives` target items the user never rated, drawn uniformly
without replacement (seeded); items rated <= threshold are not candidates. Rank by the model's
score; per user
    HR@K     = 1 if any relevant item is in the top K
    Recall@K = |relevant in top K| / |relevant|
    NDCG@K   = DCG@K / IDCG@K with binary gains
averaged over users. Ties are broken by candidate order (relevant items last: pessimistic).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rlrec.crossdomain.domains import CrossDomainTask, Ratings

__all__ = ["RankingCandidates", "rank_metrics", "ranking_candidates", "rating_metrics"]


def rating_metrics(pred: np.ndarray, y: np.ndarray, rating_range: tuple[float, float]) -> dict:
    """MAE, RMSE, and both with predictions clipped to `rating_range`."""
    pred, y = np.asarray(pred, np.float64), np.asarray(y, np.float64)
    if len(y) == 0:
        return {}
    err = pred - y
    clipped = np.clip(pred, *rating_range) - y
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "mae_clipped": float(np.abs(clipped).mean()),
        "rmse_clipped": float(np.sqrt((clipped**2).mean())),
    }


@dataclass(frozen=True)
class RankingCandidates:
    """users [U], items [U, C] (padded with -1), relevant [U, C] bool."""

    users: np.ndarray
    items: np.ndarray
    relevant: np.ndarray


def ranking_candidates(
    task: CrossDomainTask, test: Ratings, n_negatives: int, threshold: float, seed: int
) -> RankingCandidates:
    """Relevant test items plus sampled unrated negatives per cold-start user (module doc)."""
    rng = np.random.default_rng(seed)
    n_items = task.n_items(task.target)
    tgt = task.ratings[task.target]
    users = np.unique(test.user[test.rating > threshold])
    pos_lists = [test.item[(test.user == u) & (test.rating > threshold)] for u in users]
    width = max((len(p) for p in pos_lists), default=0) + n_negatives
    items = np.full((len(users), width), -1, np.int64)
    relevant = np.zeros((len(users), width), bool)
    for row, (u, pos) in enumerate(zip(users, pos_lists, strict=True)):
        rated = np.zeros(n_items, bool)
        rated[tgt.item[tgt.user == u]] = True
        pool = np.flatnonzero(~rated)
        neg = rng.choice(pool, size=min(n_negatives, len(pool)), replace=False)
        items[row, : len(neg)] = neg
        items[row, len(neg) : len(neg) + len(pos)] = pos
        relevant[row, len(neg) : len(neg) + len(pos)] = True
    return RankingCandidates(users, items, relevant)


def rank_metrics(
    cand: RankingCandidates,
    score: Callable[[np.ndarray, np.ndarray], np.ndarray],
    ks: tuple[int, ...] = (10, 20),
) -> dict[str, float]:
    """NDCG / HR / Recall @ each K of `score(users, items)` over the candidates."""
    if len(cand.users) == 0:
        return {}
    valid = cand.items >= 0
    rows = np.repeat(cand.users, cand.items.shape[1]).reshape(cand.items.shape)
    scores = np.full(cand.items.shape, -np.inf)
    scores[valid] = score(rows[valid], cand.items[valid])
    order = np.argsort(-scores, axis=1, kind="stable")
    rel = np.take_along_axis(cand.relevant, order, axis=1)
    n_rel = cand.relevant.sum(1)
    discounts = 1.0 / np.log2(np.arange(2, rel.shape[1] + 2))
    out = {}
    for k in ks:
        top = rel[:, :k]
        hits = top.sum(1)
        dcg = (top * discounts[: top.shape[1]]).sum(1)
        idcg = np.array([discounts[: min(n, k)].sum() for n in n_rel])
        out[f"ndcg@{k}"] = float((dcg / idcg).mean())
        out[f"hr@{k}"] = float((hits > 0).mean())
        out[f"recall@{k}"] = float((hits / n_rel).mean())
    return out
