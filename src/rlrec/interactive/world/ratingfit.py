"""Training and prediction for the rating models of `ratingmodels`: data, negatives, fit, scores.

Losses: explicit ratings, MSE on the star value; implicit feedback, BCE-with-logits on 1 for
(user, item) pairs in the logs and 0 for sampled negatives (`NegativeSampler`: `k` per positive,
uniform over items outside the user's history, resampled every epoch). Both add an L2 penalty,
`weight_decay` × the batch mean of the squared embedding rows (and first-order weights) the
batch touches — the usual recommender form, which regularises rows by how often they are seen;
DeepFM's dense MLP weights get Adam's L2 (`mlp_weight_decay`) instead.
Training (`fit`) is minibatch Adam with early stopping on the validation loss (best weights
restored). Everything random (initialisation, batch order, negatives) comes from the explicit
`seed`; no global random state is read or changed.

Prediction is written once for both models through their shared interface (`user_part` /
`item_part` / `combine`): `predict_pairs` scores paired rows in batches, and `predict_matrix`
scores users against the whole catalogue in chunks of users sized to bound memory, computing
the item side once. Training and prediction run with subnormal floats flushed to zero
(`flush_denormals`), which CPU arithmetic otherwise handles many times slower.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from rlrec.interactive.world.ratingmodels import MF, DeepFM

__all__ = [
    "FitResult",
    "NegativeSampler",
    "Pairs",
    "fit",
    "predict_matrix",
    "predict_pairs",
]

log = logging.getLogger("rlrec")


# -- data and negatives --------------------------------------------------------------------------


@dataclass(frozen=True)
class Pairs:
    """(user position, item position, target) rows: star ratings, or 1/0 engagement labels."""

    users: np.ndarray
    items: np.ndarray
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.users)

    def concat(self, other: Pairs) -> Pairs:
        return Pairs(
            *(np.concatenate([a, b]) for a, b in zip(self.astuple(), other.astuple(), strict=True))
        )

    def astuple(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.users, self.items, self.targets


class NegativeSampler:
    """Uniform items outside each user's history, by vectorised rejection sampling.

    `history_users`, `history_items`: every logged (user, item) pair (held-out ones included,
    so a held-out positive is never drawn as a training negative).
    """

    def __init__(
        self, history_users: np.ndarray, history_items: np.ndarray, n_items: int, k: int
    ) -> None:
        self.n_items, self.k = n_items, k
        self.keys = np.unique(history_users.astype(np.int64) * n_items + history_items)

    def in_history(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        query = users.astype(np.int64) * self.n_items + items
        pos = np.minimum(np.searchsorted(self.keys, query), len(self.keys) - 1)
        return self.keys[pos] == query

    def sample(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One negative item per entry of `users`."""
        items = rng.integers(0, self.n_items, len(users))
        for _ in range(100):  # a user who logged every item would never finish
            bad = np.flatnonzero(self.in_history(users, items))
            if not len(bad):
                break
            items[bad] = rng.integers(0, self.n_items, len(bad))
        return items

    def negatives_for(self, positives: Pairs, rng: np.random.Generator) -> Pairs:
        """`k` labelled-0 negatives per positive, for the same users."""
        users = np.repeat(positives.users, self.k)
        items = self.sample(users, rng)
        return Pairs(users, items, np.zeros(len(users), dtype=np.float32))


# -- training ------------------------------------------------------------------------------------


@dataclass
class FitResult:
    best_epoch: int  # 1-based epoch whose weights were kept
    epochs_run: int
    seconds: float
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "best_epoch": self.best_epoch,
            "epochs_run": self.epochs_run,
            "seconds": round(self.seconds, 3),
            "train/loss": [round(x, 5) for x in self.train_loss],
            "val/loss": [round(x, 5) for x in self.val_loss],
        }


def _tensors(pairs: Pairs) -> tuple[Tensor, Tensor, Tensor]:
    return (
        torch.as_tensor(pairs.users, dtype=torch.long),
        torch.as_tensor(pairs.items, dtype=torch.long),
        torch.as_tensor(pairs.targets, dtype=torch.float32),
    )


def _loss_fn(implicit: bool):
    if implicit:
        return nn.functional.binary_cross_entropy_with_logits
    return nn.functional.mse_loss


@contextlib.contextmanager
def flush_denormals() -> Iterator[None]:
    """Treat subnormal floats as zero on this thread for the duration, then restore the mode.

    As a model grows confident, BCE gradients σ(x) − y underflow into subnormals (and so do
    some activations), which CPU arithmetic handles many times slower: without this, an epoch
    of DeepFM on BiLLP Amazon slows from 3 s to 14 s as training goes on, and filling its
    reward matrix from 7 s to 55 s. The previous mode is read with a probe (a
    subnormal times one is zero only when flushing is on): torch has no getter for it.
    """
    was_on = float(torch.tensor([1e-39], dtype=torch.float32).mul(1.0)) == 0.0
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(was_on)


@flush_denormals()
def fit(
    model: MF | DeepFM,
    train: Pairs,
    val: Pairs,
    *,
    implicit: bool,
    sampler: NegativeSampler | None = None,
    epochs: int = 50,
    batch_size: int = 1024,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    mlp_weight_decay: float = 0.0,
    patience: int = 3,
    seed: int = 0,
    progress: bool = True,
    desc: str = "rating model",
) -> FitResult:
    """Minibatch Adam on MSE (explicit) or BCE-with-logits (implicit), early-stopped on `val`.

    `weight_decay` scales the batch L2 penalty on embedding rows (`model.scores_and_penalty`);
    `mlp_weight_decay` is Adam's L2 on the dense MLP weights (DeepFM only).

    For implicit data `train` holds the positives only and `sampler` adds fresh negatives every
    epoch; `val` must already hold its (fixed) negatives. The weights of the epoch with the
    lowest validation loss are restored at the end.
    """
    if implicit and sampler is None:
        raise ValueError("implicit training needs a NegativeSampler")
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    loss_fn = _loss_fn(implicit)
    with torch.no_grad():  # start at the mean target (or its log-odds): fewer epochs to converge
        model.global_bias.fill_(_initial_bias(train, implicit, sampler))
    mlp = model.mlp_parameters()
    rest = [p for p in model.parameters() if all(p is not q for q in mlp)]
    groups = [{"params": rest}, {"params": mlp, "weight_decay": mlp_weight_decay}]
    optimiser = torch.optim.Adam(groups, lr=lr)
    result = FitResult(best_epoch=0, epochs_run=0, seconds=0.0)
    best_loss, best_state, bad_epochs = float("inf"), None, 0
    bar = tqdm(range(1, epochs + 1), desc=desc, disable=None if progress else True, leave=False)
    for epoch in bar:
        data = train.concat(sampler.negatives_for(train, rng)) if implicit else train
        users, items, targets = _tensors(data)
        model.train()
        total = 0.0
        for idx in torch.randperm(len(data), generator=generator).split(batch_size):
            scores, penalty = model.scores_and_penalty(users[idx], items[idx])
            loss = loss_fn(scores, targets[idx])
            objective = loss + weight_decay * penalty
            optimiser.zero_grad(set_to_none=True)
            objective.backward()
            optimiser.step()
            total += loss.item() * len(idx)
        val_loss = evaluate_loss(model, val, implicit)
        result.train_loss.append(total / len(data))
        result.val_loss.append(val_loss)
        result.epochs_run = epoch
        bar.set_postfix(train=f"{total / len(data):.4f}", val=f"{val_loss:.4f}")
        log.debug("%s epoch %d: train %.4f val %.4f", desc, epoch, total / len(data), val_loss)
        if val_loss < best_loss - 1e-5:
            best_loss, bad_epochs, result.best_epoch = val_loss, 0, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad_epochs += 1
            if bad_epochs >= patience:
                break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    result.seconds = time.perf_counter() - start
    return result


def _initial_bias(train: Pairs, implicit: bool, sampler: NegativeSampler | None) -> float:
    if not implicit:
        return float(np.mean(train.targets)) if len(train) else 0.0
    k = sampler.k if sampler is not None else 1
    return float(np.log(1.0 / k))  # logit of the positive rate 1 / (1 + k)


@torch.no_grad()
def evaluate_loss(model: MF | DeepFM, pairs: Pairs, implicit: bool) -> float:
    """Mean loss (MSE or BCE) of `model` on `pairs`."""
    if not len(pairs):
        return float("nan")
    scores = torch.from_numpy(predict_pairs(model, pairs.users, pairs.items))
    return float(_loss_fn(implicit)(scores, torch.as_tensor(pairs.targets, dtype=torch.float32)))


# -- prediction ----------------------------------------------------------------------------------


@torch.no_grad()
@flush_denormals()
def predict_pairs(
    model: MF | DeepFM, users: np.ndarray, items: np.ndarray, batch_size: int = 65_536
) -> np.ndarray:
    """Raw scores (a rating, or a logit for implicit models) for paired rows: [N] float32."""
    model.eval()
    u = torch.as_tensor(users, dtype=torch.long)
    i = torch.as_tensor(items, dtype=torch.long)
    out = [model(ub, ib) for ub, ib in zip(u.split(batch_size), i.split(batch_size), strict=True)]
    return torch.cat(out).numpy().astype(np.float32) if out else np.empty(0, np.float32)


@torch.no_grad()
@flush_denormals()
def predict_matrix(
    model: MF | DeepFM, users: np.ndarray, n_items: int, max_elements: int = 1 << 20
) -> np.ndarray:
    """Raw scores of `users` (positions) against items 0..n_items-1: [len(users), n_items] float32.

    Users are scored in chunks sized so that a chunk's intermediate tensor holds at most about
    `max_elements` floats; the item side is computed once.
    """
    model.eval()
    out = np.empty((len(users), n_items), dtype=np.float32)
    item_side = model.item_part(torch.arange(n_items))
    chunk = max(1, max_elements // max(1, n_items * model.grid_width))
    users_t = torch.as_tensor(users, dtype=torch.long)
    for start in range(0, len(users), chunk):
        block = users_t[start : start + chunk]
        out[start : start + len(block)] = model.combine(
            model.user_part(block), item_side, grid=True
        ).numpy()
    return out
