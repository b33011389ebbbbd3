"""A world model with known structure, made directly (no rating model to fit): for tests of the
learners and for benchmarks at a chosen size (e.g. Amazon-Book's ~3,100 users x 13,864 items).

Users and items have latent taste vectors (dimension `rank`); the reward of item i for user u is
2.5 + 1.5 * z(u . i) + item quality, clipped to [0, 5], where z standardises the scores over the
whole matrix. A minority of items is rewarding for each user; most earn a reward below the quit
threshold 2. Train and test users are drawn from the same distribution (disjoint sets), so a
policy that learns the item structure on train users transfers. Item embeddings are the item
taste vectors; the distance threshold is the `distance_quantile` quantile of item-pair
distances, as the learned world models use.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rlrec.interactive.worldmodel import WorldModel


def synthetic_world(
    n_users: int = 100,
    n_items: int = 80,
    rank: int = 4,
    test_fraction: float = 0.3,
    distance_quantile: float = 0.01,
    seed: int = 0,
) -> WorldModel:
    rng = np.random.default_rng(seed)
    users = rng.normal(size=(n_users, rank)).astype(np.float32)
    items = rng.normal(size=(n_items, rank)).astype(np.float32)
    quality = rng.normal(0.0, 0.5, n_items).astype(np.float32)
    scores = users @ items.T / np.sqrt(rank)
    scores = (scores - scores.mean()) / (scores.std() + 1e-8)
    rewards = np.clip(2.5 + 1.5 * scores + quality[None, :], 0.0, 5.0).astype(np.float32)
    n_test = max(1, int(round(n_users * test_fraction)))
    order = rng.permutation(n_users)
    test_rows, train_rows = np.sort(order[:n_test]), np.sort(order[n_test:])
    sample = rng.integers(0, n_items, size=(min(20_000, n_items * n_items), 2))
    sample = sample[sample[:, 0] != sample[:, 1]]
    pair_dist = np.linalg.norm(items[sample[:, 0]] - items[sample[:, 1]], axis=1)
    return WorldModel(
        rewards={"train": rewards[train_rows], "test": rewards[test_rows]},
        users={"train": train_rows, "test": test_rows},
        items=pd.DataFrame(
            {"item_id": np.arange(n_items), "title": [f"item {i}" for i in range(n_items)]}
        ),
        distance_threshold=float(np.quantile(pair_dist, distance_quantile)),
        item_embeddings=items,
        meta={"dataset": "synthetic", "source": "synthetic_world", "seed": seed},
    )
