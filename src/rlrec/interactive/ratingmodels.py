"""Rating models behind the learned world model: MF and DeepFM, their training and dense prediction.

IL-Rec (ilrec.md §3.1) learns the reward r̂(u, i) by supervised learning on the offline logs; the
BiLLP/IL-Rec matrices are DeepFM predictions (§2.1), as in the DORL/ROLeR line (§19.1). Two
models share one interface (`user_part` / `item_part` / `combine`), so training and prediction
are written once:

- `MF`, biased matrix factorisation (Koren, Bell & Volinsky 2009):
      ŷ(u, i) = g + b_u + b_i + <p_u, q_i>,            p_u, q_i ∈ R^d.
- `DeepFM` (Guo et al., "DeepFM: A Factorization-Machine based Neural Network for CTR
  Prediction", IJCAI 2017). Fields, all embedded in R^d: user id; the user attributes the
  dataset has (gender, age bucket, occupation; one field each); item id; item genres (one
  multi-hot field, mean-pooled, when the dataset has genres). With e_f the field embeddings
  and w_f their first-order weights:
      ŷ = g + Σ_f w_f                                   (FM first order)
            + ½ Σ_k [(Σ_f e_fk)² − Σ_f e_fk²]          (FM second order, all field pairs)
            + MLP([e_1; …; e_F])                        (deep part, ReLU, no dropout)
  The MLP's first layer acts on the concatenation, so it splits exactly into a user half and
  an item half; `combine(..., grid=True)` uses that (and the FM identity) so `predict_matrix`
  scores a block of users against the whole catalogue without forming any [U, I, F, d] tensor.

Losses: explicit ratings, MSE on the star value; implicit feedback, BCE-with-logits on 1 for
(user, item) pairs in the logs and 0 for sampled negatives (`NegativeSampler`: `k` per positive,
uniform over items outside the user's history, resampled every epoch). Both add an L2 penalty,
`weight_decay` × the batch mean of the squared embedding rows (and first-order weights) the
batch touches — the usual recommender form, which regularises rows by how often they are seen;
DeepFM's dense MLP weights get Adam's L2 (`mlp_weight_decay`) instead.
Training (`fit`) is minibatch Adam with early stopping on the validation loss (best weights
restored). Everything random (initialisation, batch order, negatives) comes from the explicit
`seed`; no global random state is read or changed.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from rlrec.errors import ConfigError

__all__ = [
    "MF",
    "MODELS",
    "DeepFM",
    "Fields",
    "FitResult",
    "NegativeSampler",
    "Pairs",
    "encode_fields",
    "fit",
    "make_model",
    "predict_matrix",
    "predict_pairs",
]

log = logging.getLogger("rlrec")

AGE_BUCKETS = (18, 25, 35, 45, 50, 56)  # MovieLens-1M's age groups: <18, 18-24, ..., 56+
USER_FIELDS = ("gender", "age", "occupation")  # user attributes DeepFM uses when present


# -- side information ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Fields:
    """Integer-coded side information, indexed by user / item position.

    user_attrs   [U, A] long: one column per attribute in `attr_names`, codes into one shared
                 table of `n_attr_codes` rows (each attribute has its own "unknown" code)
    item_genres  [I, L] long: genre ids + 1, padded with 0; mean-pooled by DeepFM
    """

    n_users: int
    n_items: int
    user_attrs: Tensor | None = None
    n_attr_codes: int = 0
    attr_names: tuple[str, ...] = ()
    item_genres: Tensor | None = None
    n_genres: int = 0


def encode_fields(
    users: pd.DataFrame, items: pd.DataFrame, user_ids: np.ndarray, item_ids: np.ndarray
) -> Fields:
    """Code the attributes of `user_ids` (rows of `users`) and genres of `item_ids` (`items`)."""
    attrs, names, n_codes = _encode_user_attrs(users, user_ids)
    genres, n_genres = _encode_genres(items, item_ids)
    return Fields(
        n_users=len(user_ids),
        n_items=len(item_ids),
        user_attrs=attrs,
        n_attr_codes=n_codes,
        attr_names=names,
        item_genres=genres,
        n_genres=n_genres,
    )


def _encode_user_attrs(
    users: pd.DataFrame, user_ids: np.ndarray
) -> tuple[Tensor | None, tuple[str, ...], int]:
    present = [c for c in USER_FIELDS if c in users.columns and "user_id" in users.columns]
    if not present:
        return None, (), 0
    table = users.drop_duplicates("user_id").set_index("user_id").reindex(user_ids)
    columns, offset = [], 0
    for name in present:
        values = table[name]
        if name == "age":
            ages = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            known = ~np.isnan(ages)
            codes = np.zeros(len(ages), dtype=np.int64)
            codes[known] = np.searchsorted(AGE_BUCKETS, ages[known], side="right") + 1
            n_values = len(AGE_BUCKETS) + 1
        else:
            cat = pd.Categorical(values.astype("string"))
            codes = cat.codes.astype(np.int64) + 1  # -1 (missing) -> 0
            n_values = len(cat.categories)
        columns.append(codes + offset)
        offset += n_values + 1
    return torch.from_numpy(np.stack(columns, axis=1)), tuple(present), offset


def _encode_genres(items: pd.DataFrame, item_ids: np.ndarray) -> tuple[Tensor | None, int]:
    if "genres" not in items.columns or "item_id" not in items.columns:
        return None, 0
    lists = items.drop_duplicates("item_id").set_index("item_id")["genres"].reindex(item_ids)
    lists = [list(g) if isinstance(g, list | tuple | np.ndarray) else [] for g in lists]
    vocab = sorted({g for gs in lists for g in gs})
    if not vocab:
        return None, 0
    index = {g: k + 1 for k, g in enumerate(vocab)}
    width = max(len(gs) for gs in lists)
    padded = np.zeros((len(lists), width), dtype=np.int64)
    for row, gs in enumerate(lists):  # once per item at setup; not a training path
        padded[row, : len(gs)] = [index[g] for g in gs]
    return torch.from_numpy(padded), len(vocab)


# -- models --------------------------------------------------------------------------------------


def _embedding(
    n: int, dim: int, std: float, generator: torch.Generator, pad: bool = False
) -> nn.Embedding:
    emb = nn.Embedding(n, dim, padding_idx=0 if pad else None)
    with torch.no_grad():
        nn.init.normal_(emb.weight, 0.0, std, generator=generator)
        if pad:
            emb.weight[0].zero_()
    return emb


def _linear(n_in: int, n_out: int, generator: torch.Generator, bias: bool = True) -> nn.Linear:
    layer = nn.Linear(n_in, n_out, bias=bias)
    with torch.no_grad():
        nn.init.xavier_uniform_(layer.weight, generator=generator)
        if bias:
            layer.bias.zero_()
    return layer


class MF(nn.Module):
    """ŷ = g + b_u + b_i + <p_u, q_i>; item vectors for distances are the factors q_i [I, d]."""

    def __init__(
        self, fields: Fields, dim: int, generator: torch.Generator, init_std: float = 0.1
    ) -> None:
        super().__init__()
        self.user_factors = _embedding(fields.n_users, dim, init_std, generator)
        self.item_factors = _embedding(fields.n_items, dim, init_std, generator)
        self.user_bias = _embedding(fields.n_users, 1, 0.0, generator)
        self.item_bias = _embedding(fields.n_items, 1, 0.0, generator)
        self.global_bias = nn.Parameter(torch.zeros(()))
        self.grid_width = 1  # floats per (user, item) pair a grid `combine` holds at once

    def user_part(self, users: Tensor) -> dict[str, Tensor]:
        return {"vec": self.user_factors(users), "first": self.user_bias(users).squeeze(-1)}

    def item_part(self, items: Tensor) -> dict[str, Tensor]:
        return {"vec": self.item_factors(items), "first": self.item_bias(items).squeeze(-1)}

    def combine(self, u: dict[str, Tensor], i: dict[str, Tensor], grid: bool) -> Tensor:
        """[B] scores for paired rows, or the [Bu, Bi] grid of every user against every item."""
        if grid:
            return self.global_bias + u["first"][:, None] + i["first"][None] + u["vec"] @ i["vec"].T
        return self.global_bias + u["first"] + i["first"] + (u["vec"] * i["vec"]).sum(-1)

    def forward(self, users: Tensor, items: Tensor) -> Tensor:
        return self.combine(self.user_part(users), self.item_part(items), grid=False)

    def scores_and_penalty(self, users: Tensor, items: Tensor) -> tuple[Tensor, Tensor]:
        """[B] scores and the L2 term: batch mean of the squared rows the batch touches."""
        u, i = self.user_part(users), self.item_part(items)
        rows = u["vec"].pow(2).sum(-1) + i["vec"].pow(2).sum(-1) + u["first"] ** 2 + i["first"] ** 2
        return self.combine(u, i, grid=False), rows.mean()

    def item_vectors(self) -> Tensor:
        return self.item_factors.weight.detach()

    def mlp_parameters(self) -> list[nn.Parameter]:
        return []


class DeepFM(nn.Module):
    """FM (first + second order) plus an MLP over shared field embeddings (Guo et al. 2017).

    User fields: id, then `fields.attr_names`; item fields: id, then genres (mean-pooled) when
    the dataset has them. Item vectors for distances are the item-id field embeddings [I, d].
    """

    def __init__(
        self,
        fields: Fields,
        dim: int,
        generator: torch.Generator,
        hidden: tuple[int, ...] = (64, 64),
        init_std: float = 0.1,
    ) -> None:
        super().__init__()
        if not hidden:
            raise ConfigError("DeepFM needs at least one hidden layer (hidden=[64, 64])")
        g = generator
        self.user_attrs = fields.user_attrs
        self.item_genres = fields.item_genres
        self.user_emb = _embedding(fields.n_users, dim, init_std, g)
        self.item_emb = _embedding(fields.n_items, dim, init_std, g)
        self.user_w = _embedding(fields.n_users, 1, 0.0, g)
        self.item_w = _embedding(fields.n_items, 1, 0.0, g)
        n_user_fields, n_item_fields = 1, 1
        if self.user_attrs is not None:
            self.attr_emb = _embedding(fields.n_attr_codes, dim, init_std, g)
            self.attr_w = _embedding(fields.n_attr_codes, 1, 0.0, g)
            n_user_fields += self.user_attrs.shape[1]
        if self.item_genres is not None:
            self.genre_emb = _embedding(fields.n_genres + 1, dim, init_std, g, pad=True)
            self.genre_w = _embedding(fields.n_genres + 1, 1, 0.0, g, pad=True)
            n_item_fields += 1
        self.global_bias = nn.Parameter(torch.zeros(()))
        # the MLP's first layer over [e_user fields; e_item fields], split into its two halves
        self.deep_user = _linear(n_user_fields * dim, hidden[0], g, bias=False)
        self.deep_item = _linear(n_item_fields * dim, hidden[0], g)
        layers: list[nn.Module] = []
        for n_in, n_out in zip(hidden, [*hidden[1:], 1], strict=True):
            layers += [nn.ReLU(), _linear(n_in, n_out, g)]
        self.deep_rest = nn.Sequential(*layers)
        self.grid_width = max(hidden)

    def _user_fields(self, users: Tensor) -> tuple[Tensor, Tensor]:
        """Field embeddings [B, Fu, d] and first-order terms [B] of the user side."""
        emb, first = [self.user_emb(users)[:, None]], self.user_w(users).squeeze(-1)
        if self.user_attrs is not None:
            codes = self.user_attrs[users]
            emb.append(self.attr_emb(codes))
            first = first + self.attr_w(codes).sum((1, 2))
        return torch.cat(emb, 1), first

    def _item_fields(self, items: Tensor) -> tuple[Tensor, Tensor]:
        """Field embeddings [B, Fi, d] and first-order terms [B] of the item side."""
        emb, first = [self.item_emb(items)[:, None]], self.item_w(items).squeeze(-1)
        if self.item_genres is not None:
            ids = self.item_genres[items]
            count = (ids > 0).sum(1, keepdim=True).clamp(min=1)
            emb.append((self.genre_emb(ids).sum(1) / count)[:, None])
            first = first + self.genre_w(ids).sum(1).squeeze(-1) / count.squeeze(-1)
        return torch.cat(emb, 1), first

    @staticmethod
    def _side(emb: Tensor, first: Tensor, deep: nn.Linear) -> dict[str, Tensor]:
        total = emb.sum(1)
        return {
            "first": first,
            "sum": total,  # Σ_f e_f            [B, d]
            "sum_sq": total.pow(2).sum(-1),  # |Σ_f e_f|²    [B]
            "sq_sum": emb.pow(2).sum((1, 2)),  # Σ_f |e_f|²  [B]
            "deep": deep(emb.flatten(1)),  # first MLP layer, this side's half   [B, h]
        }

    def user_part(self, users: Tensor) -> dict[str, Tensor]:
        return self._side(*self._user_fields(users), self.deep_user)

    def item_part(self, items: Tensor) -> dict[str, Tensor]:
        return self._side(*self._item_fields(items), self.deep_item)

    def combine(self, u: dict[str, Tensor], i: dict[str, Tensor], grid: bool) -> Tensor:
        """[B] scores for paired rows, or the [Bu, Bi] grid of every user against every item."""
        if grid:
            cross = u["sum"] @ i["sum"].T  # [Bu, Bi]
            u = {k: v[:, None] for k, v in u.items()}  # users along dim 0, items along dim 1
            i = {k: v[None] for k, v in i.items()}
        else:
            cross = (u["sum"] * i["sum"]).sum(-1)
        # ½ Σ_k [(Σ_f e_fk)² − Σ_f e_fk²], with Σ_f over both sides: |s_u + s_i|² expanded
        second = 0.5 * (u["sum_sq"] + i["sum_sq"] + 2.0 * cross - u["sq_sum"] - i["sq_sum"])
        deep = self.deep_rest(u["deep"] + i["deep"]).squeeze(-1)
        return self.global_bias + u["first"] + i["first"] + second + deep

    def forward(self, users: Tensor, items: Tensor) -> Tensor:
        return self.combine(self.user_part(users), self.item_part(items), grid=False)

    def scores_and_penalty(self, users: Tensor, items: Tensor) -> tuple[Tensor, Tensor]:
        """[B] scores and the L2 term: batch mean of Σ_f |e_f|² plus the first-order terms²."""
        u, i = self.user_part(users), self.item_part(items)
        rows = u["sq_sum"] + i["sq_sum"] + u["first"] ** 2 + i["first"] ** 2
        return self.combine(u, i, grid=False), rows.mean()

    def item_vectors(self) -> Tensor:
        return self.item_emb.weight.detach()

    def mlp_parameters(self) -> list[nn.Parameter]:
        """The deep part's weights: dense, so decayed by Adam's L2 (`mlp_weight_decay`)."""
        modules = (self.deep_user, self.deep_item, self.deep_rest)
        return [p for m in modules for p in m.parameters()]


MODELS: dict[str, type[nn.Module]] = {"mf": MF, "deepfm": DeepFM}


def make_model(
    kind: str, fields: Fields, dim: int, seed: int, hidden: tuple[int, ...] = (64, 64)
) -> MF | DeepFM:
    """A freshly initialised model; the initial weights depend only on `seed`."""
    generator = torch.Generator().manual_seed(seed)
    if kind == "mf":
        return MF(fields, dim, generator)
    if kind == "deepfm":
        return DeepFM(fields, dim, generator, hidden=tuple(hidden))
    raise ConfigError(f"unknown rating model {kind!r}; known models: {', '.join(sorted(MODELS))}")


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
            "train_loss": [round(x, 5) for x in self.train_loss],
            "val_loss": [round(x, 5) for x in self.val_loss],
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
