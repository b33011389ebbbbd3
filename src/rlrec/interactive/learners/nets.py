"""The networks of the interactive learners (IL-Rec release `run_Policy_ILRec.py`;
docs/ilrec.md#networks).

- `StateTracker`: user embedding plus attention over the last W (item, reward) pairs -> a state
  vector h [B, d]. Users are rows of the train split; user -1 (`NEW_USER`) is a user the
  tracker has never seen (every test user: the splits are disjoint), with an embedding of its
  own that `user_dropout` trains (that share of training states is shown as a new user), so a
  policy generalises to new users from their history. Each history token is
  tanh(item_emb + reward_proj(r / 5) + pos_emb); a 2-layer, 1-head `TransformerEncoder`
  (feed-forward d, dropout 0.1) with a key-padding mask reads them, and its output at the last
  position is the history state (zero for an empty history; the window is right-aligned, so
  the last position is valid whenever any is);
  h = ReLU(LayerNorm(user_emb + history_state)).
- `ActorCritic` (`UserActorCritic`): the tracker, an actor head Linear(d -> I) giving logits and
  a critic head Linear(d -> 1). Options of the release: the logit clamp c * tanh(logits / c)
  (c = 1 Amazon, 15 Steam; None = off) and, after each optimiser step, `project_actor` (actor
  rows to L2 norm <= row_norm, bias clamped to [-bias_clamp, bias_clamp]).
- `QVCritic` (`StateQVCritic`): trunk Linear(d, d) + ReLU on the (detached) state, a Q head over
  all items and a V head; `at` (Q(s, a) and V), `value` (V) and `expected_q` (E_pi Q) give
  what IL-Rec reads without forming Q over the whole catalogue.
- `QNetwork`: a tracker of its own and a Q head over all items (DQN family), optionally with a
  second head (SQN's supervised head, BCQ's behaviour head).
- `PolicyNetwork`: the state tracker plus a logits head over all items (BC, CRR's actor).

States enter as `experience.batches.StateBatch` tensors.
"""

from __future__ import annotations

import torch
from torch import nn

from rlrec.interactive.experience.batches import StateBatch

REWARD_SCALE = 5.0  # rewards enter the tracker as r / 5 (BiLLP's 0-5 scale)


class StateTracker(nn.Module):
    def __init__(
        self,
        n_users: int,
        n_items: int,
        dim: int = 32,
        window: int = 4,
        user_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.n_users, self.n_items, self.dim, self.window = n_users, n_items, dim, window
        self.user_dropout = user_dropout
        self.user_emb = nn.Embedding(n_users + 1, dim)  # the last row: NEW_USER
        self.item_emb = nn.Embedding(n_items + 1, dim, padding_idx=n_items)
        self.reward_proj = nn.Linear(1, dim)
        self.pos_emb = nn.Embedding(window, dim)
        layer = nn.TransformerEncoderLayer(
            dim, nhead=1, dim_feedforward=dim, dropout=0.1, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, s: StateBatch) -> torch.Tensor:
        empty = s.items < 0  # [B, W]
        items = torch.where(empty, self.n_items, s.items)
        tokens = torch.tanh(
            self.item_emb(items)
            + self.reward_proj((s.rewards / REWARD_SCALE).unsqueeze(-1))
            + self.pos_emb.weight[-s.items.shape[1] :]
        )
        none = empty.all(1)  # an all-masked row would give NaN: unmask it, zero it below
        mask = empty & ~none[:, None]
        history = self.encoder(tokens, src_key_padding_mask=mask)[:, -1]
        history = history.masked_fill(none[:, None], 0.0)
        users = torch.where(s.users < 0, self.n_users, s.users)
        if self.training and self.user_dropout > 0:
            drop = torch.rand(users.shape) < self.user_dropout
            users = torch.where(drop, self.n_users, users)
        return torch.relu(self.norm(self.user_emb(users) + history))


def clamp_logits(logits: torch.Tensor, clamp: float | None) -> torch.Tensor:
    """c * tanh(logits / c) (the release's logit clamp); identity for None."""
    return logits if clamp is None else clamp * torch.tanh(logits / clamp)


class ActorCritic(nn.Module):
    def __init__(
        self,
        n_users: int,
        n_items: int,
        dim: int = 32,
        window: int = 4,
        logit_clamp: float | None = None,
        user_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.tracker = StateTracker(n_users, n_items, dim, window, user_dropout)
        self.actor = nn.Linear(dim, n_items)
        self.critic = nn.Linear(dim, 1)
        self.logit_clamp = logit_clamp

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        return clamp_logits(self.actor(h), self.logit_clamp)

    def forward(self, s: StateBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(state h [B, d], logits [B, I], value [B])."""
        h = self.tracker(s)
        return h, self.logits(h), self.critic(h).squeeze(-1)

    def scores(self, s: StateBatch) -> torch.Tensor:
        """Action logits (what `TorchPolicy` samples from)."""
        return self.logits(self.tracker(s))

    @torch.no_grad()
    def project_actor(self, row_norm: float | None, bias_clamp: float | None) -> None:
        """The release's projection after each optimiser step (no-op for None)."""
        if row_norm is not None:
            w = self.actor.weight
            norms = w.norm(dim=1, keepdim=True).clamp_min(1e-12)
            w.mul_(torch.clamp(row_norm / norms, max=1.0))
        if bias_clamp is not None:
            self.actor.bias.clamp_(-bias_clamp, bias_clamp)


class QVCritic(nn.Module):
    def __init__(self, n_items: int, dim: int = 32) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(dim, dim), nn.ReLU())
        self.q = nn.Linear(dim, n_items)
        self.v = nn.Linear(dim, 1)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(Q [B, I], V [B]) of state vectors h [B, d]."""
        z = self.trunk(h)
        return self.q(z), self.v(z).squeeze(-1)

    def at(self, h: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(Q(s, a) [B], V [B]): `forward` gathered at `actions` [B], from the rows of the Q
        head the actions pick instead of all I (the same values and gradients; the head's
        gradient is dense, zero outside the picked rows, as through the gather)."""
        z = self.trunk(h)
        q = (z * self.q.weight[actions]).sum(-1) + self.q.bias[actions]
        return q, self.v(z).squeeze(-1)

    def value(self, h: torch.Tensor) -> torch.Tensor:
        """V [B] alone (no Q head over the catalogue)."""
        return self.v(self.trunk(h)).squeeze(-1)

    def expected_q(self, h: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        """sum_b probs[i, b] Q(s_i, b) [B] for probabilities [B, I], as (probs W_q) . z +
        probs . b_q: Q over the catalogue is never formed."""
        z = self.trunk(h)
        return (probs @ self.q.weight * z).sum(-1) + probs @ self.q.bias


class QNetwork(nn.Module):
    """State tracker + Q head over all items; `extra_head` adds a second item head."""

    def __init__(
        self,
        n_users: int,
        n_items: int,
        dim: int = 32,
        window: int = 4,
        extra_head: bool = False,
        user_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.tracker = StateTracker(n_users, n_items, dim, window, user_dropout)
        self.q = nn.Linear(dim, n_items)
        self.extra = nn.Linear(dim, n_items) if extra_head else None

    def forward(self, s: StateBatch) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(Q [B, I], extra head logits [B, I] or None)."""
        h = self.tracker(s)
        return self.q(h), None if self.extra is None else self.extra(h)

    def scores(self, s: StateBatch) -> torch.Tensor:
        return self.forward(s)[0]


class PolicyNetwork(nn.Module):
    """State tracker + logits head over all items: f(s) [B, I]."""

    def __init__(
        self, n_users: int, n_items: int, dim: int = 32, window: int = 4, user_dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.tracker = StateTracker(n_users, n_items, dim, window, user_dropout=user_dropout)
        self.head = nn.Linear(dim, n_items)

    def forward(self, s: StateBatch) -> torch.Tensor:
        return self.head(self.tracker(s))

    def scores(self, s: StateBatch) -> torch.Tensor:
        return self.forward(s)
