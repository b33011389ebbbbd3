"""Personalised bridges: behaviour encoder + meta-network (docs/marco.md#personalised-bridge;
PTUPCDR's MetaNet, Zhu et al. WSDM'22).

For user i and domain d, with the item vectors x_l = table[s_l] of its positive sequence:
    z_l   = w2^T ReLU(W1 x_l + b1)           masked: z_l = -1e8 where s_l is the pad id
    alpha = softmax_l(z);   q^d = sum_l alpha_l x_l                       [B, n, k]
    vec(W^d) = W4 ReLU(W3 q^d + b3) + b4;   W^d = reshape(vec, in x out)   row-major
    e^d   = u^d W^d                                                        [B, n, out]
One encoder + meta-network per domain (the paper's Fig. 1), all domains in one batched einsum;
`shared=True` uses one for every domain (the release). With in_dim = n*k and one "domain", the
same module is the combined-sources PTUPCDR bridge (user vector = the sources' concatenation).
The item table is frozen, so z is computed once per table row and looked up by the sequences,
and q is a weighted `embedding_bag`: no [B, n, L, k] tensor is built (3x faster at L = 300).
Parity deviation kept out: the release masks item id 0 (a real item); here the pad id is its own
zero row and masked (`mask` comes from the caller).
"""

from __future__ import annotations

import math

import torch
from pydantic import Field
from torch import Tensor, nn

from rlrec.config import Config

__all__ = ["BridgeConfig", "Bridges", "DomainLinear"]


class BridgeConfig(Config):
    """The bridges and their optimiser."""

    meta_dim: int = Field(50, ge=1, description="m: hidden width of the meta-network")
    shared: bool = Field(False, description="one encoder + bridge for all domains (release)")
    lr: float = Field(1e-2, gt=0, description="Adam learning rate of the bridges")
    weight_decay: float = Field(1e-4, ge=0, description="Adam weight decay (release: 1e-4)")


class DomainLinear(nn.Module):
    """G independent linear maps applied to the domain axis: x [B, n, ..., in] -> [.., out].
    With G = 1 the one map is shared by every domain."""

    def __init__(self, groups: int, d_in: int, d_out: int, bias: bool = True) -> None:
        super().__init__()
        bound = 1 / math.sqrt(d_in)
        self.weight = nn.Parameter(torch.empty(groups, d_in, d_out).uniform_(-bound, bound))
        self.bias = (
            nn.Parameter(torch.empty(groups, d_out).uniform_(-bound, bound)) if bias else None
        )

    def forward(self, x: Tensor) -> Tensor:
        n = x.shape[1]
        w = self.weight.expand(n, -1, -1) if self.weight.shape[0] == 1 else self.weight
        extra = x.dim() - 3  # axes between the domain axis and the features
        out = torch.einsum("bn...i,nio->bn...o", x, w)
        if self.bias is not None:
            b = self.bias.expand(n, -1) if self.bias.shape[0] == 1 else self.bias
            out = out + b.view(1, n, *([1] * extra), -1)
        return out


class Bridges(nn.Module):
    """Encoder + meta-network per domain:
    (u [B,n,in], table [T,k], seqs [B,n,L] rows of table, mask [B,n,L]) -> e [B,n,out]."""

    def __init__(
        self, n_domains: int, item_dim: int, in_dim: int, out_dim: int, meta_dim: int, shared: bool
    ) -> None:
        super().__init__()
        g = 1 if shared else n_domains
        self.in_dim, self.out_dim = in_dim, out_dim
        self.enc1 = DomainLinear(g, item_dim, item_dim)
        self.enc2 = DomainLinear(g, item_dim, 1, bias=False)
        self.meta1 = DomainLinear(g, item_dim, meta_dim)
        self.meta2 = DomainLinear(g, meta_dim, in_dim * out_dim)

    def encode(self, table: Tensor, seqs: Tensor, mask: Tensor) -> Tensor:
        """q [B, n, k]: attention pooling of the sequence vectors table[seqs]."""
        b, n, length = seqs.shape
        rows = table.expand(1, n, *table.shape)  # every row under every domain's encoder
        score = self.enc2(torch.relu(self.enc1(rows))).view(n, -1)  # [n, T]
        z = torch.gather(score.expand(b, -1, -1), 2, seqs)  # [B, n, L]
        alpha = torch.softmax(z.masked_fill(~mask, -1e8), dim=-1)
        q = nn.functional.embedding_bag(
            seqs.reshape(b * n, length), table, per_sample_weights=alpha.reshape(b * n, length),
            mode="sum",
        )  # fmt: skip
        return q.view(b, n, -1)

    def matrices(self, q: Tensor) -> Tensor:
        """W [B, n, in, out] from q [B, n, k]."""
        vec = self.meta2(torch.relu(self.meta1(q)))
        return vec.view(*q.shape[:2], self.in_dim, self.out_dim)

    def forward(self, u: Tensor, table: Tensor, seqs: Tensor, mask: Tensor) -> Tensor:
        w = self.matrices(self.encode(table, seqs, mask))
        return torch.einsum("bni,bnio->bno", u, w)
