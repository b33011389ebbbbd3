"""The LLM expert: a BiLLP-style agent and its in-context baselines (ilrec.md §4; BiLLP, Shi et
al. 2024; ReAct, Yao et al. 2023; Reflexion, Shinn et al. 2023).

Modes (`AgentConfig.mode`):
    billp      Planner (reflections from a vector memory) -> Actor (actor memory advice) ->
               Critic (value memory, A2C-style updates of both memories) -> Reflector
    reflexion  ReAct plus the Reflector's memory (no actor/critic memories)
    react      a Thought (planner call) then the action; no memories
    actonly    the action only

Actor (§4.3), `AgentConfig.actor_mode`:
    generate   the LLM writes `recommend[title]`; the title is grounded to the catalogue (exact,
               then normalised title, then the grounder's nearest title by similarity). When no
               action parses, the best-scored candidate is taken and grounding is "none".
    score      log-likelihood of `recommend[title]` over K candidates (a seeded sample of items
               not recently recommended, half of them from the exploration-hint genres).

Critic (§4.4): V(s) is an integer in [-5, 5]; A(s_t, a_t) = r_t + γ V(s_{t+1}) - V(s_t). The
critic memory stores r + γ V(s') and the actor memory stores {title: +1 if A >= 0 else -1}, keyed
by "The user viewing history is [...]". Updates wait in `pending` until `commit()` (BiLLP rebuilds
its memories after each batch of users). A quit step is scored as BiLLP's LLM saw it (reward
-1000): the actor memory gets -1 and the critic target is the lowest value, -5.

Memory scores are squared L2 distances of unit embeddings (see `memory.VectorMemory`): an actor
hit is used if band[0] < score < band[1] or score < exact (BiLLP: (0.3, 0.5) ∪ [0, 0.01)), a critic
hit if score < critic_threshold (0.01).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from rlrec.config import Config
from rlrec.errors import RlrecError
from rlrec.interactive.grounding import (
    Grounder,
    display_catalogue,
    exact_lookup,
    normalise_title,
)
from rlrec.interactive.llm import prompts
from rlrec.interactive.llm.backends import Backend, Completion, Message
from rlrec.interactive.llm.memory import Embedder, VectorMemory

__all__ = ["AgentConfig", "LLMAgent", "parse_action", "parse_value"]

MODES = ("billp", "react", "actonly", "reflexion")
VALUE_RANGE = (-5, 5)


class AgentConfig(Config):
    """The LLM expert's modules, memories and sampling (defaults: BiLLP, ilrec.md §4-5)."""

    mode: Literal["billp", "react", "actonly", "reflexion"] = Field(
        "billp", description="billp | react (thought+action) | actonly | reflexion (react+reflect)"
    )
    actor_mode: Literal["generate", "score"] = Field(
        "generate", description="generate recommend[title] and ground it, or score K candidates"
    )
    n_candidates: int = Field(20, ge=1, description="K: candidates scored (score mode, fallback)")
    history_len: int = Field(10, ge=1, description="titles in 'The user viewing history is'")
    hint_genres: int = Field(2, ge=0, description="genres in the exploration hint (0 = no hint)")
    n_reflections: int = Field(2, ge=0, description="reflections given to the planner (K = 2)")
    actor_memory_k: int = Field(1, ge=1, description="actor-memory hits retrieved per step")
    actor_band: tuple[float, float] = Field(
        (0.3, 0.5), description="an actor hit is used if band[0] < score < band[1] ..."
    )
    actor_exact: float = Field(0.01, ge=0, description="... or if score < actor_exact")
    critic_threshold: float = Field(0.01, ge=0, description="a critic hit is used below this")
    gamma: float = Field(0.5, ge=0, le=1, description="γ of the critic's advantage")
    batch_users: int = Field(10, ge=1, description="episodes between reflections/memory commits")
    max_tokens: int = Field(48, ge=1, description="tokens of a planner or actor answer")
    critic_max_tokens: int = Field(6, ge=1, description="tokens of a critic answer")
    reflect_max_tokens: int = Field(80, ge=1, description="tokens of a reflection")
    temperature: float = Field(0.0, ge=0, description="sampling temperature of every call")
    grounder: Literal["embedding", "ngram"] = Field(
        "embedding", description="grounding of free-text titles (and the memories' embedder)"
    )


# -- parsing -------------------------------------------------------------------------------------

_QUOTES = "\"'`\u2018\u2019\u201c\u201d*"
_ACTIONS = (
    re.compile(r"recommend\s*\[\s*([^\]\n;]*)", re.IGNORECASE),  # recommend[t], a missing ], a list
    re.compile(r"recommend\s*\((.*)\)", re.IGNORECASE),  # recommend(t)
    re.compile(r"recommend\s*:\s*(.+)", re.IGNORECASE),  # recommend: t
)
_NOT_TITLES = {"<movie title>", "title", "item title", "the", "a", "an"}  # placeholders, cut-offs
_INT = re.compile(r"[-+]?\d+")


def parse_action(text: str) -> str | None:
    """The title of the first `recommend[...]` in `text` (any case, closing bracket optional,
    also `recommend(...)` / `recommend: ...`), or None when nothing parses."""
    for pattern in _ACTIONS:
        match = pattern.search(text)
        if match:
            title = match.group(1).strip().strip(_QUOTES).strip().rstrip(".").strip()
            if title and title.casefold() not in _NOT_TITLES:
                return title
    return None


def parse_value(text: str) -> float | None:
    """The critic's integer, clipped to [-5, 5], or None when the answer holds no integer."""
    match = _INT.search(text)
    if match is None:
        return None
    return float(np.clip(int(match.group()), *VALUE_RANGE))


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


# -- the agent -------------------------------------------------------------------------------------


class LLMAgent:
    """One LLM expert over a catalogue (DataFrame: item_id, title, optional genres, in the
    environment's column order: `item` below is a column position, i.e. the env action).

    `act(history_titles, window)` picks an item; `observe(...)` queues critic/actor memory
    updates (billp); `reflect(episode)` writes a reflection (billp, reflexion); `commit()`
    adds the queued updates to the memories.
    """

    def __init__(
        self,
        backend: Backend,
        catalogue: pd.DataFrame,
        grounder: Grounder,
        embedder: Embedder,
        cfg: AgentConfig | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.backend = backend
        self.cfg = cfg or AgentConfig()
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.grounder = grounder
        catalogue = display_catalogue(catalogue)  # "Shining, The" -> "The Shining"
        self.titles = catalogue["title"].astype(str).tolist()
        self.item_ids = catalogue["item_id"].to_numpy()
        self.position = {int(i): p for p, i in enumerate(self.item_ids.tolist())}
        self.exact, self.normalised = exact_lookup(catalogue)
        self.genres = _genre_lists(catalogue)
        self.all_genres = sorted({g for gs in self.genres for g in gs})
        self.reflections = VectorMemory(embedder)
        self.actor_memory = VectorMemory(embedder)
        self.critic_memory = VectorMemory(embedder)
        self.pending: dict[str, list[tuple[str, Any]]] = {"actor": [], "critic": []}
        self._values: dict[str, tuple[float, int, float]] = {}  # key -> (V, tokens, latency)

    # -- acting ------------------------------------------------------------------------------

    def act(self, history_titles: Sequence[str], window: Sequence[Sequence[float]]) -> dict:
        """Recommend one item. `history_titles`: titles recommended so far (the last
        `history_len` are shown); `window`: the recent [item, reward] pairs, oldest first."""
        cfg = self.cfg
        history = list(history_titles)[-cfg.history_len :]
        recent = [(int(i), float(r)) for i, r in window]
        state = prompts.state_text(history, [(self.titles[i], r) for i, r in recent])
        hint_genres = self.hint(recent)
        hint = prompts.hint_text(hint_genres)
        cost = _Cost()
        thought, planner_prompt = "", None
        if cfg.mode != "actonly":
            reflections = self.retrieve_reflections(state) if self.uses_reflections else []
            planner_prompt = prompts.planner_messages(state, reflections, hint)
            thought = _first_line(cost.add(self._chat(planner_prompt)).text)
        advice = self.actor_advice(history) if cfg.mode == "billp" else ""
        exclude = {self.position_of(t) for t in history} | {i for i, _ in recent}
        out: dict[str, Any] = {"thought": thought, "planner_prompt": planner_prompt}
        if cfg.actor_mode == "score":
            candidates = self.candidates(exclude, hint_genres)
            titles = [self.titles[c] for c in candidates]
            prompt = prompts.actor_messages(state, thought, hint, advice, titles, titles[0])
            item = self._best_candidate(prompt, candidates, cost)
            title = self.titles[item]
            out.update(response=prompts.ACTION_FORMAT.format(title=title), title=title)
            out.update(item=item, grounding="exact", similarity=1.0)
        else:
            candidates = self.candidates(exclude, hint_genres)
            example = self.titles[candidates[0]]  # a hint-genre item shows the format
            prompt = prompts.actor_messages(state, thought, hint, advice, example=example)
            response = cost.add(self._chat(prompt)).text
            title = parse_action(response)
            if title is None:
                item = self._best_candidate(prompt, candidates, cost)
                grounding, similarity = "none", None
            else:
                item, grounding, similarity = self.ground(title)
            out.update(response=response, title=title, item=item)
            out.update(grounding=grounding, similarity=similarity)
        out.update(
            prompt=prompt,
            item_id=self.item_ids[out["item"]].item(),
            grounded_title=self.titles[out["item"]],
            hint=hint_genres,
            advice=advice,
            tokens=cost.tokens,
            latency=cost.latency,
        )
        return out

    def ground(self, title: str) -> tuple[int, str, float]:
        """(column position, method, similarity): exact title, normalised title, then nearest."""
        if title in self.exact:
            return self.position[self.exact[title]], "exact", 1.0
        norm = normalise_title(title)
        if norm in self.normalised:
            return self.position[self.normalised[norm]], "normalised", 1.0
        ids, sims = self.grounder([title])
        return self.position[int(ids[0])], "similarity", float(sims[0])

    def position_of(self, title: str) -> int:
        item = self.exact.get(title)
        return -1 if item is None else self.position[item]

    def hint(self, window: Sequence[tuple[int, float]]) -> list[str]:
        """`hint_genres` genres absent from the recent items, sampled (BiLLP's category tool)."""
        if not self.all_genres or self.cfg.hint_genres == 0:
            return []
        seen = {g for i, _ in window for g in self.genres[i]}
        unseen = [g for g in self.all_genres if g not in seen] or self.all_genres
        n = min(self.cfg.hint_genres, len(unseen))
        return [unseen[j] for j in sorted(self.rng.choice(len(unseen), n, replace=False))]

    def candidates(self, exclude: set[int], genres: Sequence[str] = ()) -> list[int]:
        """K seeded candidates not in `exclude`; half from `genres` when known."""
        n_items = len(self.titles)
        allowed = np.setdiff1d(np.arange(n_items), np.fromiter(exclude, np.int64, len(exclude)))
        if len(allowed) == 0:
            allowed = np.arange(n_items)
        k = min(self.cfg.n_candidates, len(allowed))
        picked: list[int] = []
        if genres:
            wanted = set(genres)
            pool = [i for i in allowed.tolist() if wanted & set(self.genres[i])]
            if pool:
                n = min(len(pool), (k + 1) // 2)
                picked = [pool[j] for j in self.rng.choice(len(pool), n, replace=False)]
        rest = np.setdiff1d(allowed, np.asarray(picked, np.int64))
        n = min(len(rest), k - len(picked))
        picked += rest[self.rng.choice(len(rest), n, replace=False)].tolist()
        return picked

    def _best_candidate(self, prompt: list[Message], candidates: list[int], cost: _Cost) -> int:
        """The candidate whose `recommend[title]` has the highest log-likelihood (the first
        candidate, a seeded random item, when the backend cannot score)."""
        actions = [prompts.ACTION_FORMAT.format(title=self.titles[c]) for c in candidates]
        try:  # the original call's latency, cached or not (as for chat answers)
            scores, latency = self.backend.score_with_latency(prompt, actions)
        except RlrecError:
            return candidates[0]
        cost.latency += latency
        cost.tokens += sum(self.backend.count_tokens(m["content"]) for m in prompt)
        cost.tokens += sum(self.backend.count_tokens(a) for a in actions)
        return candidates[int(np.argmax(scores))]

    def _chat(self, messages: list[Message], max_tokens: int | None = None) -> Completion:
        return self.backend.chat(
            messages,
            temperature=self.cfg.temperature,
            max_tokens=max_tokens or self.cfg.max_tokens,
        )

    # -- memories ----------------------------------------------------------------------------

    @property
    def uses_reflections(self) -> bool:
        return self.cfg.mode in ("billp", "reflexion")

    @property
    def learns_in_context(self) -> bool:
        """Whether episodes change later answers (through memories): ActOnly and ReAct don't."""
        return self.uses_reflections

    def retrieve_reflections(self, state: str) -> list[str]:
        """All reflections if at most K exist, else the K nearest to the state (§4.2)."""
        k = self.cfg.n_reflections
        if k == 0 or not self.reflections:
            return []
        if len(self.reflections) <= k:
            return list(self.reflections.values)
        return [text for text, _ in self.reflections.search(state, k)]

    def actor_advice(self, history: Sequence[str]) -> str:
        """Actor-memory hits within the thresholds, as "we encourage to recommend ..." (§4.3)."""
        lo, hi = self.cfg.actor_band
        good, bad = [], []
        for (title, sign), score in self.actor_memory.search(
            _memory_key(history), self.cfg.actor_memory_k
        ):
            if lo < score < hi or score < self.cfg.actor_exact:
                (good if sign > 0 else bad).append(title)
        return prompts.advice_text(good, bad)

    def value(self, history: Sequence[str]) -> tuple[float, int, float]:
        """Critic V(s) in [-5, 5] with (tokens, latency) of the call; cached per state."""
        key = _memory_key(list(history)[-self.cfg.history_len :])
        if key in self._values:
            return self._values[key][0], 0, 0.0
        memory = ""
        hits = self.critic_memory.search(key, 1)
        if hits and hits[0][1] < self.cfg.critic_threshold:
            memory = f"{hits[0][0]:.1f}"
        reply = self._chat(
            prompts.critic_messages(list(history)[-self.cfg.history_len :], memory),
            max_tokens=self.cfg.critic_max_tokens,
        )
        v = parse_value(reply.text)
        result = (0.0 if v is None else v, reply.prompt_tokens + reply.completion_tokens)
        self._values[key] = (*result, reply.latency_s)
        return result[0], result[1], reply.latency_s

    def observe(
        self,
        history_before: Sequence[str],
        title: str,
        reward: float,
        history_after: Sequence[str],
        done: bool,
        quit: bool = False,
    ) -> dict[str, Any]:
        """Queue the critic and actor memory updates of one step (billp only); returns the
        critic's numbers for the step record (empty in the other modes)."""
        if self.cfg.mode != "billp":
            return {}
        v, tokens, latency = self.value(history_before)
        v_next, tokens_next, latency_next = (0.0, 0, 0.0)
        if not done:
            v_next, tokens_next, latency_next = self.value(history_after)
        target = float(VALUE_RANGE[0]) if quit else float(reward) + self.cfg.gamma * v_next
        advantage = target - v
        key = _memory_key(list(history_before)[-self.cfg.history_len :])
        self.pending["critic"].append((key, target))
        self.pending["actor"].append((key, (title, 1 if advantage >= 0 and not quit else -1)))
        return {
            "value": v,
            "next_value": v_next,
            "advantage": advantage,
            "critic_tokens": tokens + tokens_next,
            "critic_latency": latency + latency_next,
        }

    def reflect(self, episode: Sequence[tuple[str, float, bool]]) -> str | None:
        """Reflect on a finished episode [(title, reward, done)] and store it (billp, reflexion).
        The reflection is retrievable at once; the text is returned (None in other modes)."""
        if not self.uses_reflections or not episode:
            return None
        text = prompts.episode_text(episode)
        reply = self._chat(prompts.reflector_messages(text), self.cfg.reflect_max_tokens)
        reflection = " ".join(reply.text.split())
        if reflection:
            self.reflections.add(text, reflection)
        return reflection

    def commit(self) -> None:
        """Add the queued critic/actor updates to their memories (after a batch of users)."""
        for name, memory in (("critic", self.critic_memory), ("actor", self.actor_memory)):
            items = self.pending[name]
            memory.add_many([k for k, _ in items], [v for _, v in items])
            items.clear()
        self._values.clear()


class _Cost:
    """Tokens and latency spent on one step."""

    def __init__(self) -> None:
        self.tokens = 0
        self.latency = 0.0

    def add(self, reply: Completion) -> Completion:
        self.tokens += reply.prompt_tokens + reply.completion_tokens
        self.latency += reply.latency_s
        return reply


def _memory_key(history: Sequence[str]) -> str:
    return "The user viewing history is [" + "; ".join(history) + "]"


def _genre_lists(catalogue: pd.DataFrame) -> list[list[str]]:
    if "genres" not in catalogue:
        return [[] for _ in range(len(catalogue))]
    out = []
    for g in catalogue["genres"].tolist():
        if g is None or (isinstance(g, float) and np.isnan(g)):
            out.append([])
        elif isinstance(g, str):
            out.append([g])
        else:
            out.append([str(x) for x in g])
    return out
