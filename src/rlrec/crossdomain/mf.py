"""Per-domain matrix factorisation (docs/marco.md#per-domain-embeddings).

    r_hat_ij = <u_i, v_j>,   minimise mean (r_ij - <u_i, v_j>)^2 (+ weight_decay on the rows seen)

No biases, as in the paper and the release. Adam (lr 1e-2), up to `epochs` epochs, early stopping
on a held-out `holdout` share of the ratings (the release trains 50 epochs without evaluation and
keeps the last; early stopping is §10's recommendation). The best epoch's tables are kept. Item
tables get one extra zero row (index n_items), the masked pad id of the sequences. Users of the
global id space that have no rating in the domain keep their initial rows: for the target MF,
that is exactly the cold-start users (their target ratings are never seen).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from pydantic import Field

from rlrec.config import Config
from rlrec.crossdomain.domains import Ratings

__all__ = ["MF", "MFConfig", "fit_mf"]


class MFConfig(Config):
    """Per-domain MF pretraining."""

    dim: int = Field(10, ge=1, description="k: embedding size")
    lr: float = Field(1e-2, gt=0, description="Adam learning rate")
    weight_decay: float = Field(0.0, ge=0, description="L2 on the rows in the batch")
    epochs: int = Field(50, ge=1, description="most epochs")
    patience: int = Field(10, ge=1, description="epochs without held-out improvement before stop")
    batch_size: int = Field(512, ge=1, description="ratings per step")
    holdout: float = Field(0.05, ge=0, lt=1, description="held-out share for early stopping")
    init_std: float = Field(0.1, gt=0, description="std of the N(0, s^2) initial rows")


@dataclass
class MF:
    """Learned tables: user [n_users, k], item [n_items + 1, k] (last row: the zero pad)."""

    user: torch.Tensor
    item: torch.Tensor
    info: dict[str, float]

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        u, i = torch.as_tensor(users), torch.as_tensor(items)
        return (self.user[u] * self.item[i]).sum(-1).numpy()

    def state(self) -> dict[str, torch.Tensor]:
        return {"user": self.user, "item": self.item}


def fit_mf(ratings: Ratings, n_users: int, n_items: int, cfg: MFConfig, seed: int) -> MF:
    """Fit MF on `ratings` (global user ids, item ids < n_items), seeded by `seed`."""
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    user = torch.nn.Parameter(torch.randn(n_users, cfg.dim, generator=gen) * cfg.init_std)
    item = torch.nn.Parameter(torch.randn(n_items + 1, cfg.dim, generator=gen) * cfg.init_std)
    with torch.no_grad():
        item[n_items].zero_()
    u = torch.as_tensor(ratings.user)
    i = torch.as_tensor(ratings.item)
    y = torch.tensor(ratings.rating, dtype=torch.float32)
    n = len(y)
    perm = torch.as_tensor(rng.permutation(n))
    n_hold = round(cfg.holdout * n) if n >= 20 else 0
    hold, train = perm[:n_hold], perm[n_hold:]
    opt = torch.optim.Adam([user, item], lr=cfg.lr)
    best = (float("inf"), user.detach().clone(), item.detach().clone(), 0)
    stale = 0
    for epoch in range(1, cfg.epochs + 1):
        order = train[torch.randperm(len(train), generator=gen)]
        for start in range(0, len(order), cfg.batch_size):
            b = order[start : start + cfg.batch_size]
            pu, qi = user[u[b]], item[i[b]]
            loss = ((pu * qi).sum(-1) - y[b]).pow(2).mean()
            if cfg.weight_decay:
                loss = loss + cfg.weight_decay * (pu.pow(2).sum(-1) + qi.pow(2).sum(-1)).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            item[n_items].zero_()
            idx = hold if n_hold else train
            rmse = ((user[u[idx]] * item[i[idx]]).sum(-1) - y[idx]).pow(2).mean().sqrt().item()
        if rmse < best[0] - 1e-5:
            best, stale = (rmse, user.detach().clone(), item.detach().clone(), epoch), 0
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    info = {"heldout_rmse": best[0], "best_epoch": best[3], "epochs_run": epoch, "ratings": n}
    return MF(best[1], best[2], info)
