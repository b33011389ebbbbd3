"""The inference path of a trained or exported policy (`rlrec.export`, IL-Rec's rollouts): the
scoring network's forward pass in NumPy, with no autograd and no framework dispatch, for
serving and evaluation at batch 1 (and small batches).

A batch-1 request through torch costs about 0.7 ms, nearly all of it per-operator dispatch: the
arithmetic (the state tracker's two attention layers over W = 4 tokens and the catalogue head,
0.44 M multiply-adds for 13,864 items at d = 32) takes tens of microseconds. `FastScorer`
computes the same function as the network's `scores` (`learners/nets.py`, docs/ilrec.md#networks)
from copies of its weights:

    tokens = tanh(item_emb[i] + reward_proj(r / 5) + pos_emb)                 [B, W, d]
    x      = LN1(x + out_proj(softmax(q k^T / sqrt(d), masked) v))           2 post-norm layers,
    x      = LN2(x + W2 relu(W1 x))                                          1 head, eval mode
    h      = relu(LN(user_emb[u] + x[:, -1]))        (x[:, -1] = 0 for an empty history)
    scores = c * tanh((h W_head^T + b) / c)          (the logit clamp; none: identity)

The last layer is evaluated for the last position only (the only one read), the catalogue head
writes into a buffer kept between calls of the same batch size (the "fused" head: one GEMM into
place, the clamp in place), and nothing else of size I is allocated. Supported networks: a
`StateTracker` with one linear head (IL-Rec's actor, a baseline's policy head, a Q head, SQN's
supervised head); anything else (BCQ's constrained Q) stays on the network (`fast_scores`
returns None). Tests check the scores and top-k against the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from rlrec.interactive.experience.batches import StateBatch
from rlrec.interactive.experience.rollout import choose_actions
from rlrec.interactive.learners.nets import REWARD_SCALE

__all__ = ["FastPolicy", "FastScorer", "fast_scores"]


def _np(t: torch.Tensor) -> np.ndarray:
    """A float32 copy of `t` (never a view: the scorer is a snapshot, and a view would let an
    in-place change here reach the network, or later training reach the scorer)."""
    return np.array(t.detach().cpu().numpy(), dtype=np.float32, order="C", copy=True)


@dataclass(frozen=True)
class _Norm:
    weight: np.ndarray
    bias: np.ndarray
    eps: np.float32
    mean: np.ndarray  # [d, 1] of 1/d: x @ mean is the row mean (one call, no np.mean)

    @classmethod
    def of(cls, norm: nn.LayerNorm) -> _Norm:
        d = norm.weight.shape[0]
        return cls(
            _np(norm.weight), _np(norm.bias), np.float32(norm.eps), np.full((d, 1), 1 / d, "f4")
        )

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """LayerNorm over the last axis (biased variance, as torch), in place on x."""
        x -= x @ self.mean
        var = np.square(x) @ self.mean
        var += self.eps
        np.sqrt(var, out=var)
        x /= var
        x *= self.weight
        x += self.bias
        return x


@dataclass(frozen=True)
class _Layer:
    """One `nn.TransformerEncoderLayer` (1 head, ReLU, post-norm) as matrices, x @ W form."""

    w_in: np.ndarray  # [d, 3d]
    b_in: np.ndarray
    w_out: np.ndarray  # [d, d]
    b_out: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    norm1: _Norm
    norm2: _Norm

    @classmethod
    def of(cls, layer: nn.TransformerEncoderLayer) -> _Layer:
        sa = layer.self_attn
        if sa.num_heads != 1 or layer.norm_first or not _is_relu(layer):
            raise ValueError("FastScorer reads 1-head, post-norm, ReLU encoder layers only")
        w_in, b_in = _np(sa.in_proj_weight.T), _np(sa.in_proj_bias)
        d = w_in.shape[0]
        w_in[:, :d] *= 1 / np.sqrt(d)  # the attention's 1/sqrt(d) folded into the queries
        b_in[:d] *= 1 / np.sqrt(d)
        return cls(
            w_in,
            b_in,
            _np(sa.out_proj.weight.T),
            _np(sa.out_proj.bias),
            _np(layer.linear1.weight.T),
            _np(layer.linear1.bias),
            _np(layer.linear2.weight.T),
            _np(layer.linear2.bias),
            _Norm.of(layer.norm1),
            _Norm.of(layer.norm2),
        )

    def __call__(self, x: np.ndarray, key_bias: np.ndarray | None, last_only: bool) -> np.ndarray:
        """x [B, W, d] -> [B, W, d] (or [B, 1, d]: the last position's output only).
        `key_bias` [B, 1, W] is 0 for a key to attend to and -inf for a padded one (None: no
        key is padded)."""
        d = x.shape[-1]
        qkv = x @ self.w_in
        qkv += self.b_in
        q, k, v = qkv[..., :d], qkv[..., d : 2 * d], qkv[..., 2 * d :]
        if last_only:
            q, x = q[:, -1:], x[:, -1:]
        att = q @ k.transpose(0, 2, 1)
        if key_bias is not None:
            att += key_bias
        att -= att.max(-1, keepdims=True)
        np.exp(att, out=att)
        att /= att.sum(-1, keepdims=True)
        sa = (att @ v) @ self.w_out
        sa += self.b_out
        sa += x
        x = self.norm1(sa)
        ff = x @ self.w1
        ff += self.b1
        np.maximum(ff, 0.0, out=ff)
        ff = ff @ self.w2
        ff += self.b2
        ff += x
        return self.norm2(ff)


def _is_relu(layer: nn.TransformerEncoderLayer) -> bool:
    act = layer.activation
    return act is torch.nn.functional.relu or isinstance(act, nn.ReLU)


class FastScorer:
    """scores(users [B], items [B, W], rewards [B, W]) -> [B, I] float32, the network's scores.

    The returned array is a buffer the next call of the same batch size overwrites: copy it to
    keep it. Not thread-safe (one scorer per worker thread)."""

    def __init__(self, tracker: nn.Module, head: nn.Linear, clamp: float | None = None) -> None:
        if tracker.training or head.training:
            raise ValueError("FastScorer copies a network in eval mode (call .eval() first)")
        self.n_users, self.n_items = int(tracker.n_users), int(tracker.n_items)
        self.window = int(tracker.window)
        self.user_emb = _np(tracker.user_emb.weight)
        self.item_emb = _np(tracker.item_emb.weight)
        self.reward_w = _np(tracker.reward_proj.weight[:, 0])
        # reward_proj's bias plus the position embeddings: one [W, d] addend
        self.token_bias = _np(tracker.pos_emb.weight) + _np(tracker.reward_proj.bias)
        self.layers = [_Layer.of(layer) for layer in tracker.encoder.layers]
        if getattr(tracker.encoder, "norm", None) is not None:
            raise ValueError("FastScorer reads an encoder without a final norm")
        self.norm = _Norm.of(tracker.norm)
        self.head_wt = _np(head.weight.T)  # [d, I]: scores = h @ head_wt + b
        self.head_b = _np(head.bias)
        self.clamp = None if clamp is None else np.float32(clamp)
        self._out: np.ndarray | None = None

    def state(self, users: np.ndarray, items: np.ndarray, rewards: np.ndarray) -> np.ndarray:
        """The state vector h [B, d] (the tracker's output)."""
        items = np.asarray(items, dtype=np.int64)
        users = np.asarray(users, dtype=np.int64)
        w = items.shape[1]
        empty = items < 0
        padded = bool(empty.any())
        tokens = self.item_emb.take(np.where(empty, self.n_items, items) if padded else items, 0)
        scaled = np.asarray(rewards, dtype=np.float32) / np.float32(REWARD_SCALE)
        tokens += scaled[..., None] * self.reward_w
        tokens += self.token_bias[-w:]
        np.tanh(tokens, out=tokens)
        key_bias = none = None
        if padded:  # an all-empty row attends to everything and is zeroed after (as torch)
            none = empty.all(1)
            key_bias = np.where(empty & ~none[:, None], np.float32(-np.inf), np.float32(0))
            key_bias = key_bias[:, None]
        x = tokens
        for i, layer in enumerate(self.layers):
            x = layer(x, key_bias, last_only=i == len(self.layers) - 1)
        history = x[:, -1]
        if none is not None and none.any():
            history[none] = 0.0
        history += self.user_emb.take(np.where(users < 0, self.n_users, users), 0)
        h = self.norm(history)
        np.maximum(h, 0.0, out=h)
        return h

    def scores(self, s: StateBatch) -> torch.Tensor:
        """The network's `scores(s)` for a `StateBatch` (a `ScoreFn`), as a tensor over this
        scorer's buffer (overwritten by the next call of the same batch size)."""
        return torch.from_numpy(self(s.users.numpy(), s.items.numpy(), s.rewards.numpy()))

    def __call__(self, users: np.ndarray, items: np.ndarray, rewards: np.ndarray) -> np.ndarray:
        h = self.state(users, items, rewards)
        out = self._out
        if out is None or out.shape[0] != len(h):
            out = self._out = np.empty((len(h), self.n_items), dtype=np.float32)
        np.matmul(h, self.head_wt, out=out)
        out += self.head_b
        if self.clamp is not None:  # c * tanh(x / c), in place (c = 1: tanh alone, exactly)
            if self.clamp != 1:
                out *= 1 / self.clamp
            np.tanh(out, out=out)
            if self.clamp != 1:
                out *= self.clamp
        return out


def fast_scores(net: nn.Module, head: str) -> FastScorer | None:
    """The `FastScorer` of an exported network's scoring head (`export.HEADS`), or None when
    the head is not one linear layer over the tracker (then the network itself scores)."""
    tracker = getattr(net, "tracker", None)
    if tracker is None:
        return None
    linear: Any = None
    clamp = None
    if head == "scores":
        for name in ("actor", "head", "q"):  # ActorCritic, PolicyNetwork, QNetwork
            if isinstance(getattr(net, name, None), nn.Linear):
                linear = getattr(net, name)
                break
        clamp = getattr(net, "logit_clamp", None) if linear is getattr(net, "actor", 0) else None
    elif head == "supervised":  # SQN: the second head
        linear = getattr(net, "extra", None)
    if not isinstance(linear, nn.Linear):
        return None
    try:
        return FastScorer(tracker, linear, clamp)
    except (ValueError, AttributeError):
        return None


class FastPolicy:
    """An evaluation `Policy` (`evaluate.Policy`) over a `FastScorer`: the same actions as the
    network's `TorchPolicy` for the same observation and generator (both choose through
    `rollout.choose_actions`)."""

    def __init__(
        self, name: str, scorer: FastScorer, always_greedy: bool = False, known_users: bool = False
    ) -> None:
        self.name = name
        self.scorer = scorer
        self.always_greedy = always_greedy
        self.known_users = known_users

    def act(self, obs: Any, rng: np.random.Generator, greedy: bool = False) -> np.ndarray:
        users = obs.users if self.known_users else np.full(len(obs.users), -1)
        logits = self.scorer(users, obs.window_items, obs.window_rewards)
        return choose_actions(logits, rng, obs.banned, greedy or self.always_greedy)
