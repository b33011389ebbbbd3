"""Batched rollouts of a network policy in the vectorised environment, and the network policy
as the evaluation protocol sees it.

`rollout` plays one episode for each of B users at once: every step is one forward pass over the
still-running episodes and one `VectorRecEnv.step`; no Python loop runs per user or per item.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from rlrec.interactive.env import VectorRecEnv
from rlrec.interactive.evaluate import Observation
from rlrec.interactive.experience.batches import NEW_USER, StateBatch, state_batch
from rlrec.interactive.experience.transitions import Transitions

# act(users [n], window_items [n, W], window_rewards [n, W]) -> actions [n]
ActFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
ScoreFn = Callable[[StateBatch], torch.Tensor]


@dataclass
class Episodes:
    """The transitions of a batch of finished episodes (contiguous per episode, in order)."""

    transitions: Transitions
    lengths: np.ndarray  # [B]
    returns: np.ndarray  # [B]

    @property
    def steps(self) -> int:
        return len(self.transitions)


def rollout(env: VectorRecEnv, users: np.ndarray, act: ActFn, first_episode: int = 0) -> Episodes:
    """One episode per user row, all stepped together; episode ids first_episode + slot."""
    users = np.asarray(users, dtype=np.int64)
    env.reset(users)
    n = len(users)
    parts: list[tuple[np.ndarray, ...]] = []
    lengths = np.zeros(n, dtype=np.int64)
    returns = np.zeros(n, dtype=np.float64)
    actions = np.zeros(n, dtype=np.int64)
    while True:
        live = np.flatnonzero(env.active)
        if not live.size:
            break
        items = env.window_items()[live]
        rewards = env.window_rewards()[live]
        chosen = np.asarray(act(users[live], items, rewards), dtype=np.int64)
        actions[live] = chosen
        step_rewards, done, _ = env.step(actions)
        parts.append((live, items, rewards, chosen, step_rewards[live], done[live]))
        lengths[live] += 1
        returns[live] += step_rewards[live]
    slots = np.concatenate([p[0] for p in parts])
    order = np.argsort(slots, kind="stable")  # group by episode; time order kept within each
    transitions = Transitions(
        users=users[slots][order],
        window_items=np.concatenate([p[1] for p in parts])[order],
        window_rewards=np.concatenate([p[2] for p in parts])[order],
        actions=np.concatenate([p[3] for p in parts])[order],
        rewards=np.concatenate([p[4] for p in parts]).astype(np.float32)[order],
        done=np.concatenate([p[5] for p in parts])[order],
        episodes=(slots + first_episode)[order],
    )
    return Episodes(transitions, lengths, returns)


def sampler(score: ScoreFn, generator: torch.Generator) -> ActFn:
    """Actions sampled from softmax(scores) (the policies of IL-Rec, A2C, DORL) by inverting
    the cumulative distribution with one uniform number per row (several times faster than
    `torch.multinomial` over ten thousand items)."""

    @torch.inference_mode()
    def act(users: np.ndarray, items: np.ndarray, rewards: np.ndarray) -> np.ndarray:
        cdf = torch.softmax(score(state_batch(users, items, rewards)), dim=-1).cumsum_(1)
        u = torch.rand(len(users), 1, generator=generator) * cdf[:, -1:]
        return torch.searchsorted(cdf, u).squeeze(1).clamp_(max=cdf.shape[1] - 1).numpy()

    return act


def epsilon_greedy(score: ScoreFn, n_items: int, epsilon: float, rng: np.random.Generator) -> ActFn:
    """argmax scores, replaced by a uniform item with probability epsilon (DQN exploration)."""

    @torch.no_grad()
    def act(users: np.ndarray, items: np.ndarray, rewards: np.ndarray) -> np.ndarray:
        best = score(state_batch(users, items, rewards)).argmax(-1).numpy()
        explore = rng.random(len(users)) < epsilon
        if explore.any():
            best[explore] = rng.integers(0, n_items, int(explore.sum()))
        return best

    return act


CDF_BLOCK = 128  # items per block of the blocked running sum (`sample_inverse_cdf`)


def sample_inverse_cdf(
    logits: np.ndarray, rng: np.random.Generator, banned: np.ndarray | None = None
) -> np.ndarray:
    """One action per row from softmax(logits) (float64) by inverting the cumulative
    distribution with one uniform of `rng` per row; banned items get probability 0.

    The first item whose running sum reaches u * total, with the running sum taken in blocks
    of `CDF_BLOCK` items (the block totals, then one block), so that no [n, I] cumulative sum
    is formed."""
    n, n_items = logits.shape
    n_blocks = -(-n_items // CDF_BLOCK)
    x = np.zeros((n, n_blocks * CDF_BLOCK), dtype=np.float64)  # the tail pads with mass 0
    probs = x[:, :n_items]
    # logits - max in float64 (the float32 logits converted first)
    if banned is not None:
        logits = np.where(banned, np.float32(-np.inf), logits)
    np.subtract(logits, logits.max(1, keepdims=True), out=probs, dtype=np.float64)
    np.exp(probs, out=probs)
    blocks = x.reshape(n, n_blocks, CDF_BLOCK)
    block_cdf = np.cumsum(blocks.sum(2), axis=1)
    u = rng.random((n, 1))[:, 0] * block_cdf[:, -1]
    picks = np.empty(n, dtype=np.int64)
    for row in range(n):
        b = min(int(np.searchsorted(block_cdf[row], u[row])), n_blocks - 1)
        inner = np.cumsum(blocks[row, b])
        if b:
            inner += block_cdf[row, b - 1]
        picks[row] = b * CDF_BLOCK + min(int(np.searchsorted(inner, u[row])), CDF_BLOCK - 1)
    return np.minimum(picks, n_items - 1)


def choose_actions(
    logits: np.ndarray, rng: np.random.Generator, banned: np.ndarray | None, greedy: bool
) -> np.ndarray:
    """An evaluation policy's actions from its scores [n, I]: the argmax over the items not
    `banned` when `greedy`, else one `sample_inverse_cdf` draw per row."""
    if not greedy:
        return sample_inverse_cdf(logits, rng, banned)
    if banned is not None:
        logits = np.where(banned, -np.inf, logits)
    return logits.argmax(1)


class TorchPolicy:
    """A trained network as an evaluation `Policy`: sample from softmax(scores) with the
    evaluation's NumPy generator (`choose_actions`: inverse CDF), or take the argmax when
    `greedy` is asked or the policy is value-based (`always_greedy`: Q-values are not logits).

    Evaluation users are test-split users, whom no network has seen: they enter as `NEW_USER`
    (the policy reads their history); `known_users=True` passes the rows through (serving train
    users, evaluating on the train split)."""

    def __init__(
        self, name: str, scores: ScoreFn, always_greedy: bool = False, known_users: bool = False
    ) -> None:
        self.name = name
        self.scores = scores
        self.always_greedy = always_greedy
        self.known_users = known_users

    @torch.inference_mode()
    def act(self, obs: Observation, rng: np.random.Generator, greedy: bool = False) -> np.ndarray:
        users = obs.users if self.known_users else np.full(len(obs.users), NEW_USER)
        s = state_batch(users, obs.window_items, obs.window_rewards)
        logits = self.scores(s).numpy()
        return choose_actions(logits, rng, obs.banned, greedy or self.always_greedy)
