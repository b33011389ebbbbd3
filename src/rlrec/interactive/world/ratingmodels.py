"""Rating models behind the learned world model: MF and DeepFM, and the side information they embed.

IL-Rec (docs/ilrec.md#world-model-and-environment) learns the reward r̂(u, i) by supervised learning
on the offline logs; the BiLLP/IL-Rec matrices are DeepFM predictions, as in the DORL/ROLeR line (a
DeepFM ensemble). Two models share one interface (`user_part` / `item_part` / `combine`), so
training and prediction (`ratingfit`) are written once:

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
  an item half; `combine(..., grid=True)` uses that (and the FM identity) so
  `ratingfit.predict_matrix` scores a block of users against the whole catalogue without
  forming any [U, I, F, d] tensor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from rlrec.errors import ConfigError

__all__ = [
    "MF",
    "MODELS",
    "DeepFM",
    "Fields",
    "encode_fields",
    "make_model",
]

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
