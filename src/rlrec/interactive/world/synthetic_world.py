"""A world model with known structure, made directly (no rating model to fit): for tests of the
learners and for benchmarks at a chosen size (e.g. Amazon-Book's ~3,100 users x 13,864 items).

Users and items have latent taste vectors (dimension `rank`); the reward of item i for user u is
2.5 + 1.5 * z(u . i) + q_i, clipped to [0, 5], where z standardises the scores over the whole
matrix and the item quality q_i ~ N(0, `quality`) is what all users share (larger: more
structure a policy can carry over to new users). About a third of the items earn a user a
reward below the quit threshold 2. Train and test users are drawn from the same distribution
(disjoint sets), so a policy that learns the item structure on train users transfers. Item
embeddings are the item taste vectors; the distance threshold is the `distance_quantile`
quantile of item-pair distances, as the learned world models use. `uncertainty=True` adds a
positive variance matrix per split (what DORL penalises), like an ensemble world model's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rlrec.interactive.world.worldmodel import WorldModel


def synthetic_world(
    n_users: int = 100,
    n_items: int = 80,
    rank: int = 4,
    test_fraction: float = 0.3,
    distance_quantile: float = 0.01,
    quality: float = 0.5,
    uncertainty: bool = False,
    seed: int = 0,
) -> WorldModel:
    rng = np.random.default_rng(seed)
    users = rng.normal(size=(n_users, rank)).astype(np.float32)
    items = rng.normal(size=(n_items, rank)).astype(np.float32)
    item_quality = rng.normal(0.0, quality, n_items).astype(np.float32)
    scores = users @ items.T / np.sqrt(rank)
    scores = (scores - scores.mean()) / (scores.std() + 1e-8)
    rewards = np.clip(2.5 + 1.5 * scores + item_quality[None, :], 0.0, 5.0).astype(np.float32)
    n_test = max(1, round(n_users * test_fraction))
    order = rng.permutation(n_users)
    test_rows, train_rows = np.sort(order[:n_test]), np.sort(order[n_test:])
    sample = rng.integers(0, n_items, size=(min(20_000, n_items * n_items), 2))
    sample = sample[sample[:, 0] != sample[:, 1]]
    pair_dist = np.linalg.norm(items[sample[:, 0]] - items[sample[:, 1]], axis=1)
    variance = {}
    if uncertainty:  # what an ensemble's disagreement looks like: larger away from the data
        noise = rng.gamma(2.0, 0.1, size=rewards.shape).astype(np.float32)
        variance = {"train": noise[train_rows], "test": noise[test_rows]}
    return WorldModel(
        rewards={"train": rewards[train_rows], "test": rewards[test_rows]},
        uncertainty=variance,
        users={"train": train_rows, "test": test_rows},
        items=pd.DataFrame(
            {"item_id": np.arange(n_items), "title": [f"item {i}" for i in range(n_items)]}
        ),
        distance_threshold=float(np.quantile(pair_dist, distance_quantile)),
        item_embeddings=items,
        meta={"dataset": "synthetic", "source": "synthetic_world", "seed": seed},
    )
