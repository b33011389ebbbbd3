"""Per-domain matrix factorisation: the embeddings every transfer method starts from (MARCO
paper's pretrained embeddings, k = 10; docs/marco.md#per-domain-embeddings).

Two models, `mf.model`:
    biased (default)  r_hat_ij = mu + b_i + b_j + <p_i, q_j>, fitted by alternating least
                      squares with ridge penalty lambda (||p_i||^2 + b_i^2 per user,
                      ||q_j||^2 + b_j^2 per item); lambda chosen per domain on a held-out share
                      of its ratings from `regs`, k (when `dims` lists several) jointly for all
                      the domains of a task. Each half-step is exact, so a few sweeps converge.
    dot               r_hat_ij = <u_i, v_j>, Adam, early stopping on the held-out share: the
                      released code's bias-free MF (it trains 50 epochs and keeps the last),
                      for parity.
Why biases are the default: on sparse, skewed ratings (Amazon 5-core) the dot-only model ends
with a held-out RMSE about equal to the ratings' standard deviation, so its user vectors carry
almost no taste and no bridge has anything to transfer; a user's bias is itself part of what a
bridge should carry over.

Both are stored in one dot-product form so that bridges, weighting and baselines need no case:
    user   [n_users, k']       biased: [p_i, b_i] (k' = k + 1); dot: u_i (k' = k)
    item   [n_items + 1, k']   biased: [q_j, 1];  dot: v_j; the last row is the zero pad
    offset [n_items + 1]       biased: mu + b_j;  dot: 0
    r_hat  = <user_i, item_j> + offset_j
Users without a rating in the domain get the zero row under `biased` (the ridge solution with no
data: prediction mu + b_j, the item-bias predictor) and their initial N(0, init_std) draw under
`dot`; for the target MF that is exactly the cold-start users.
`info` records the held-out MAE / RMSE next to those of the damped item mean on the same ratings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from pydantic import Field
from torch import Tensor

from rlrec.config import Config
from rlrec.crossdomain.domains import Ratings

__all__ = ["MF", "MFConfig", "damped_item_means", "fit_domain_mfs", "fit_mf"]

ITEM_MEAN_DAMPING = 5.0  # pseudo-ratings at the global mean in the item-mean reference


class MFConfig(Config):
    """Per-domain MF pretraining."""

    model: Literal["biased", "dot"] = Field(
        "biased", description="biased: mu + b_u + b_i + <p, q> by ALS; dot: the release's <u, v>"
    )
    dim: int = Field(10, ge=1, description="k: embedding size (the paper: 10)")
    dims: list[int] | None = Field(
        None, description="biased: candidate k, chosen on held-out ratings (default: [dim])"
    )
    regs: list[float] = Field(
        default_factory=lambda: [1.0, 3.0, 10.0, 30.0],
        description="biased: candidate ridge lambda, chosen per domain on held-out ratings",
    )
    sweeps: int = Field(12, ge=1, description="biased: most ALS sweeps (users, then items)")
    lr: float = Field(1e-2, gt=0, description="dot: Adam learning rate")
    weight_decay: float = Field(0.0, ge=0, description="dot: L2 on the rows in the batch")
    epochs: int = Field(50, ge=1, description="dot: most epochs")
    patience: int = Field(10, ge=1, description="dot: epochs without held-out improvement")
    batch_size: int = Field(512, ge=1, description="dot: ratings per step")
    holdout: float = Field(0.1, ge=0, lt=1, description="held-out share (selection, report)")
    init_std: float = Field(0.1, gt=0, description="std of the N(0, s^2) initial rows")


@dataclass
class MF:
    """Learned tables in the dot-product form of the module doc."""

    user: Tensor
    item: Tensor
    info: dict[str, float]
    offset: Tensor | None = None

    def __post_init__(self) -> None:
        if self.offset is None:
            self.offset = torch.zeros(len(self.item))

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        u, i = torch.as_tensor(users), torch.as_tensor(items)
        return ((self.user[u] * self.item[i]).sum(-1) + self.offset[i]).numpy()

    def state(self) -> dict[str, Tensor]:
        return {"user": self.user, "item": self.item, "offset": self.offset}


def damped_item_means(
    items: np.ndarray, y: np.ndarray, n_items: int, damping: float = ITEM_MEAN_DAMPING
) -> np.ndarray:
    """[n_items + 1] (sum_j + damping * mean) / (n_j + damping); the pad row is the mean."""
    mean = float(np.mean(y)) if len(y) else 0.0
    total = np.bincount(items, weights=y, minlength=n_items + 1)
    count = np.bincount(items, minlength=n_items + 1)
    return (total + damping * mean) / (count + damping)


def _holdout(n: int, share: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    perm = rng.permutation(n)
    n_hold = round(share * n) if n >= 20 else 0
    return perm[n_hold:], perm[:n_hold]


def _errors(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    if not len(y):
        return {"mae": float("nan"), "rmse": float("nan")}
    return {"mae": float(np.abs(pred - y).mean()), "rmse": float(np.sqrt(((pred - y) ** 2).mean()))}


def _item_mean_errors(
    items: np.ndarray, y: np.ndarray, train: np.ndarray, hold: np.ndarray, n_items: int
) -> dict[str, float]:
    """MAE / RMSE on the held-out ratings of the damped item mean of the training ones: the
    reference every domain's MF is reported against."""
    return _errors(damped_item_means(items[train], y[train], n_items)[items[hold]], y[hold])


def fit_mf(ratings: Ratings, n_users: int, n_items: int, cfg: MFConfig, seed: int) -> MF:
    """Fit one domain's MF on `ratings` (global user ids, item ids < n_items)."""
    if cfg.model == "dot":
        return _fit_dot(ratings, n_users, n_items, cfg, seed)
    return _fit_biased(ratings, n_users, n_items, cfg, cfg.dim, seed)


def fit_domain_mfs(
    ratings: dict[str, Ratings], n_users: int, n_items: dict[str, int], cfg: MFConfig, seed: int
) -> dict[str, MF]:
    """One MF per domain; with several `dims` the k with the least total held-out squared
    error over the domains (one k for all: the bridges map between domains)."""
    dims = cfg.dims or [cfg.dim]
    if cfg.model == "dot" or len(dims) == 1:
        one = cfg.model_copy(update={"dim": dims[0]})
        return {
            d: fit_mf(r, n_users, n_items[d], one, seed * 31 + k)
            for k, (d, r) in enumerate(ratings.items())
        }
    best: tuple[float, dict[str, MF]] = (float("inf"), {})
    for dim in dims:
        fits = {
            d: _fit_biased(r, n_users, n_items[d], cfg, dim, seed * 31 + k)
            for k, (d, r) in enumerate(ratings.items())
        }
        sse = sum(m.info["heldout_rmse"] ** 2 * m.info["heldout_ratings"] for m in fits.values())
        for m in fits.values():
            m.info["dims_tried"] = list(dims)
        if sse < best[0]:
            best = (sse, fits)
    return best[1]


# ---- biased MF by alternating least squares ---------------------------------------------


def _ridge_rows(group: Tensor, x: Tensor, target: Tensor, n: int, lam: float) -> Tensor:
    """Per group g: argmin_w sum_{r in g} (target_r - <x_r, w>)^2 + lam ||w||^2, [n, d]."""
    d = x.shape[1]
    gram = torch.zeros(n, d, d, dtype=x.dtype).index_add_(0, group, x[:, :, None] * x[:, None, :])
    gram += lam * torch.eye(d, dtype=x.dtype)
    rhs = torch.zeros(n, d, dtype=x.dtype).index_add_(0, group, x * target[:, None])
    return torch.linalg.solve(gram, rhs)


def als(
    users: np.ndarray,
    items: np.ndarray,
    y: np.ndarray,
    n_users: int,
    n_items: int,
    dim: int,
    lam: float,
    sweeps: int,
    gen: torch.Generator,
) -> tuple[Tensor, Tensor, Tensor, Tensor, float]:
    """(p [U, k], b_user [U], q [I, k], b_item [I], mu) of the biased model (module doc)."""
    u, i = torch.as_tensor(users), torch.as_tensor(items)
    r = torch.as_tensor(y, dtype=torch.float64)
    mu = float(r.mean()) if len(r) else 0.0
    q = torch.randn(n_items, dim, generator=gen, dtype=torch.float64) * 0.1
    b_item = torch.zeros(n_items, dtype=torch.float64)
    ones = torch.ones(len(r), 1, dtype=torch.float64)
    prev = float("inf")
    for _ in range(sweeps):
        w = _ridge_rows(u, torch.cat([q[i], ones], 1), r - mu - b_item[i], n_users, lam)
        p, b_user = w[:, :dim], w[:, dim]
        w = _ridge_rows(i, torch.cat([p[u], ones], 1), r - mu - b_user[u], n_items, lam)
        q, b_item = w[:, :dim], w[:, dim]
        loss = float((mu + b_user[u] + b_item[i] + (p[u] * q[i]).sum(1) - r).pow(2).mean())
        if prev - loss < 1e-5 * prev:
            break
        prev = loss
    return p, b_user, q, b_item, mu


def _fit_biased(
    ratings: Ratings, n_users: int, n_items: int, cfg: MFConfig, dim: int, seed: int
) -> MF:
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    u, i, y = ratings.user, ratings.item, ratings.rating.astype(np.float64)
    train, hold = _holdout(len(y), cfg.holdout, rng)
    scores = {}
    for lam in cfg.regs:
        p, bu, q, bi, mu = als(
            u[train], i[train], y[train], n_users, n_items, dim, lam, cfg.sweeps, gen
        )
        pred = (mu + bu[u[hold]] + bi[i[hold]] + (p[u[hold]] * q[i[hold]]).sum(1)).numpy()
        scores[lam] = _errors(pred, y[hold])
    lam = min(cfg.regs, key=lambda x: (scores[x]["rmse"], x)) if len(hold) else cfg.regs[-1]
    reference = _item_mean_errors(i, y, train, hold, n_items)
    p, bu, q, bi, mu = als(u, i, y, n_users, n_items, dim, lam, cfg.sweeps, gen)  # all ratings
    user = torch.cat([p, bu[:, None]], 1).float()
    ones = torch.ones(n_items, 1, dtype=q.dtype)
    pad = torch.zeros(1, dim + 1, dtype=q.dtype)
    item = torch.cat([torch.cat([q, ones], 1), pad]).float()
    offset = torch.cat([mu + bi, torch.tensor([mu], dtype=bi.dtype)]).float()
    info = {
        "model": "biased",
        "dim": dim,
        "reg": lam,
        "heldout_mae": scores[lam]["mae"],
        "heldout_rmse": scores[lam]["rmse"],
        "heldout_ratings": len(hold),
        "item_mean_mae": reference["mae"],
        "item_mean_rmse": reference["rmse"],
        "rmse_by_reg": {str(k): v["rmse"] for k, v in scores.items()},
        "ratings": len(y),
    }
    return MF(user, item, info, offset)


# ---- the release's bias-free MF (parity) -------------------------------------------------


def _fit_dot(ratings: Ratings, n_users: int, n_items: int, cfg: MFConfig, seed: int) -> MF:
    """r_hat = <u, v>, Adam, early stopping on the held-out share (module doc)."""
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    user = torch.nn.Parameter(torch.randn(n_users, cfg.dim, generator=gen) * cfg.init_std)
    item = torch.nn.Parameter(torch.randn(n_items + 1, cfg.dim, generator=gen) * cfg.init_std)
    with torch.no_grad():
        item[n_items].zero_()
    u = torch.as_tensor(ratings.user)
    i = torch.as_tensor(ratings.item)
    y = torch.tensor(ratings.rating, dtype=torch.float32)
    train_np, hold_np = _holdout(len(y), cfg.holdout, rng)
    train, hold = torch.as_tensor(train_np), torch.as_tensor(hold_np)
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
            idx = hold if len(hold) else train
            rmse = ((user[u[idx]] * item[i[idx]]).sum(-1) - y[idx]).pow(2).mean().sqrt().item()
        if rmse < best[0] - 1e-5:
            best, stale = (rmse, user.detach().clone(), item.detach().clone(), epoch), 0
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    with torch.no_grad():
        pred = (best[1][u[hold]] * best[2][i[hold]]).sum(-1).numpy()
    yn = ratings.rating.astype(np.float64)
    reference = _item_mean_errors(ratings.item, yn, train_np, hold_np, n_items)
    info = {
        "model": "dot",
        "dim": cfg.dim,
        "heldout_rmse": best[0],
        "heldout_mae": _errors(pred, yn[hold_np])["mae"],
        "heldout_ratings": len(hold_np),
        "item_mean_mae": reference["mae"],
        "item_mean_rmse": reference["rmse"],
        "best_epoch": best[3],
        "epochs_run": epoch,
        "ratings": len(y),
    }
    return MF(best[1], best[2], info)
