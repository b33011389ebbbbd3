"""Rating and ranking metrics (evaluate.py) with hand-computed numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rlrec.crossdomain.evaluate import RankingCandidates, rank_metrics, rating_metrics


def test_rating_metrics_and_clipping() -> None:
    m = rating_metrics(np.array([6.0, 2.0]), np.array([5.0, 4.0]), (1.0, 5.0))
    assert m["mae"] == pytest.approx(1.5) and m["rmse"] == pytest.approx(math.sqrt(2.5))
    assert m["mae_clipped"] == pytest.approx(1.0) and m["rmse_clipped"] == pytest.approx(
        math.sqrt(2)
    )


def test_rank_metrics_hand_example() -> None:
    cand = RankingCandidates(
        users=np.array([0, 1]),
        items=np.array([[0, 1, 2], [0, 1, -1]]),
        relevant=np.array([[False, True, True], [True, False, False]]),
    )
    scores = {0: {0: 3.0, 1: 2.0, 2: 1.0}, 1: {0: 0.0, 1: 1.0}}

    def score(users, items):
        return np.array([scores[int(u)][int(i)] for u, i in zip(users, items, strict=True)])

    out = rank_metrics(cand, score, ks=(1, 2))
    # user 0 ranks [0, 1, 2]: relevant at ranks 2, 3; user 1 ranks [1, 0]: relevant at rank 2
    assert out["hr@1"] == 0.0 and out["hr@2"] == 1.0
    assert out["recall@2"] == pytest.approx((0.5 + 1.0) / 2)
    ndcg0 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    ndcg1 = (1 / math.log2(3)) / 1
    assert out["ndcg@2"] == pytest.approx((ndcg0 + ndcg1) / 2)
