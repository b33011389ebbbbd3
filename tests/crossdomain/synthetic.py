"""A multi-domain dataset where exactly one source domain carries each user's taste."""

from __future__ import annotations

import numpy as np

from rlrec.data.dataset import Dataset, interactions_frame


def one_signal_dataset(
    n_users: int = 300, n_items: int = 120, per_domain: int = 25, dim: int = 4, seed: int = 0
) -> Dataset:
    """Domains Target, Signal, NoiseA, NoiseB: Target and Signal ratings follow the user's taste
    t_u; the noise domains follow independent tastes. Stars = clip(round(3 + <t, f_j> + eps))."""
    rng = np.random.default_rng(seed)
    taste = rng.standard_normal((n_users, dim))
    frames = []
    for name in ("Target", "Signal", "NoiseA", "NoiseB"):
        t = taste if name in ("Target", "Signal") else rng.standard_normal((n_users, dim))
        f = rng.standard_normal((n_items, dim)) * 0.7
        items = np.argsort(rng.random((n_users, n_items)), axis=1)[:, :per_domain]
        users = np.repeat(np.arange(n_users), per_domain)
        items = items.reshape(-1)
        stars = 3 + (t[users] * f[items]).sum(1) + rng.normal(0, 0.3, len(users))
        frames.append(
            interactions_frame(
                [f"u{u:04d}" for u in users],
                [f"{name}-{i:04d}" for i in items],
                np.clip(np.round(stars), 1, 5),
                rng.integers(0, 10**6, len(users)),
                [name] * len(users),
            )
        )
    import pandas as pd

    return Dataset("one-signal", pd.concat(frames, ignore_index=True))


def uniform_weight_predictions(model, ratings) -> np.ndarray:
    """A fitted Marco's predictions for `ratings` with its own bridges but weights 1/n: what
    its learned weights must beat."""
    import torch

    with torch.no_grad():
        e, v, c = model.embed(torch.as_tensor(ratings.user), torch.as_tensor(ratings.item))
        return model.combine(e, v, c, torch.full(e.shape[:2], 1 / e.shape[1])).numpy()
