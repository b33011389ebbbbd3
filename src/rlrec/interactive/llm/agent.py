"""The LLM expert: a BiLLP-style agent and its in-context baselines (docs/ilrec.md#the-llm-expert;
BiLLP, Shi et al. 2024; ReAct, Yao et al. 2023; Reflexion, Shinn et al. 2023).

Modes (`AgentConfig.mode`):
    billp      Planner (reflections from a vector memory) -> Actor (actor memory advice) ->
               Critic (value memory, A2C-style updates of both memories) -> Reflector
    reflexion  ReAct plus the Reflector's memory (no actor/critic memories)
    react      a Thought (planner call) then the action; no memories
    actonly    the action only

Actor, `AgentConfig.actor_mode`:
    choice     the LLM picks one of `n_choices` numbered candidates: the log-likelihood of each
               number as its answer is scored (one prompt evaluation, no generation), so every
               answer parses; a backend that cannot score writes the number instead.
    generate   the LLM writes `recommend[title]`; the title is grounded to the catalogue (exact,
               then normalised title, then the grounder's nearest title by similarity). When no
               action parses, or it names an item already recommended in the episode, the
               best-scored candidate is taken (a fallback; grounding "none" when none parsed).
    score      log-likelihood of `recommend[title]` over K candidates (a seeded sample of items
               not recently recommended, half of them from the exploration-hint genres).

Every step says who chose its item (`chosen_by`): "llm" when the LLM's answer named it,
"fallback" when a rule did (an unparsed or repeated answer, a backend that cannot score).

What the agent uses (BiLLP): candidates never repeat an item of the episode; half of them come
from the planner's exploration hint (genres absent from the recent window); the critic's feedback
reaches the actor through the actor memory (items the critic judged good for a similar state are
listed first, items it judged bad are left out); reflections go to the planner. The world model's
rewards reach the agent only as the observed rewards of its own recommendations.

Prompts (`AgentConfig.prompt_style`, see `prompts`): `shared` keeps one static system message
first and lets the actor continue the planner's conversation, so a KV-caching backend evaluates
only new tokens, and the planner's answer stops at its first line; `separate` is the earlier
layout (each module its own prompt, the planner writing up to `max_tokens`). Together with
`actor_mode=generate` it makes the earlier agent's calls, for comparisons (`rlrec bench llm`);
unlike that agent, a title it names twice in an episode is replaced by a fallback.

Each call's cost is counted per module in `stats` (calls, prompt tokens and how many of them were
reused from the KV cache, generated tokens, seconds of prompt evaluation and of generation).

Critic: V(s) is an integer in [-5, 5]; A(s_t, a_t) = r_t + γ V(s_{t+1}) - V(s_t). The
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
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from rlrec.config import Config
from rlrec.errors import RlrecError
from rlrec.interactive.llm import prompts
from rlrec.interactive.llm.backends import Backend, Completion, Message, Scored
from rlrec.interactive.llm.memory import Embedder, VectorMemory
from rlrec.interactive.text.grounding import (
    Grounder,
    display_catalogue,
    exact_lookup,
    normalise_title,
)

__all__ = ["AgentConfig", "LLMAgent", "parse_action", "parse_value"]

MODES = ("billp", "react", "actonly", "reflexion")
ROLES = ("planner", "actor", "critic", "reflector")
VALUE_RANGE = (-5, 5)


class AgentConfig(Config):
    """The LLM expert's modules, memories and sampling (defaults: BiLLP's, docs/ilrec.md)."""

    mode: Literal["billp", "react", "actonly", "reflexion"] = Field(
        "billp", description="billp | react (thought+action) | actonly | reflexion (react+reflect)"
    )
    actor_mode: Literal["choice", "generate", "score"] = Field(
        "choice",
        description="choice (pick a numbered candidate), generate recommend[title] and ground "
        "it, or score K candidate titles",
    )
    prompt_style: Literal["shared", "separate"] = Field(
        "shared",
        description="shared (static system first, actor continues the planner: KV reuse) or "
        "separate (the earlier per-module prompts)",
    )
    n_choices: int = Field(8, ge=1, le=9, description="numbered candidates in choice mode")
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
        self.positions: dict[str, list[int]] = {}  # title -> every column position holding it
        for p, title in enumerate(self.titles):
            self.positions.setdefault(title, []).append(p)
        self.genres = _genre_lists(catalogue)
        self.all_genres = sorted({g for gs in self.genres for g in gs})
        self.reflections = VectorMemory(embedder)
        self.actor_memory = VectorMemory(embedder)
        self.critic_memory = VectorMemory(embedder)
        self.pending: dict[str, list[tuple[str, Any]]] = {"actor": [], "critic": []}
        self._values: dict[str, tuple[float, int, float]] = {}  # key -> (V, tokens, latency)
        self.stats: dict[str, Counter[str]] = {r: Counter() for r in ROLES}  # see `_count`
        self.steps = 0
        self.chosen: Counter[str] = Counter()  # steps by who chose the item: llm | fallback
        self.scores_choices = True  # False once the backend failed to score a choice

    # -- acting ------------------------------------------------------------------------------

    def act(self, history_titles: Sequence[str], window: Sequence[Sequence[float]]) -> dict:
        """Recommend one item. `history_titles`: titles recommended so far in the episode (the
        last `history_len` are shown; none of them is recommended again); `window`: the recent
        [item, reward] pairs, oldest first."""
        cfg = self.cfg
        history = list(history_titles)[-cfg.history_len :]
        recent = [(int(i), float(r)) for i, r in window]
        state = prompts.state_text(history, [(self.titles[i], r) for i, r in recent])
        hint_genres = self.hint(recent)
        cost = _Cost()
        thought, planner_prompt, conversation = self._plan(state, hint_genres, cost)
        good, bad = self.actor_hits(history) if cfg.mode == "billp" else ([], [])
        exclude = self.episode_items(history_titles) | {i for i, _ in recent}
        ctx = _Step(state, hint_genres, thought, good, bad, exclude)
        if cfg.actor_mode == "choice":
            out = self._act_choice(ctx, conversation, cost)
        elif cfg.actor_mode == "score":
            out = self._act_score(ctx, cost)
        else:
            out = self._act_generate(ctx, cost)
        out.update(
            thought=thought,
            planner_prompt=planner_prompt,
            item_id=self.item_ids[out["item"]].item(),
            grounded_title=self.titles[out["item"]],
            hint=hint_genres,
            advice=ctx.advice,
            tokens=cost.tokens,
            latency=cost.latency,
        )
        self.steps += 1
        self.chosen[out["chosen_by"]] += 1
        return out

    def _plan(
        self, state: str, hint_genres: list[str], cost: _Cost
    ) -> tuple[str, list[Message] | None, list[Message] | None]:
        """(thought, planner prompt, the planner's conversation with its answer in the shared
        layout); ActOnly plans nothing."""
        if self.cfg.mode == "actonly":
            return "", None, None
        reflections = self.retrieve_reflections(state) if self.uses_reflections else []
        hint = prompts.hint_text(hint_genres)
        if self.cfg.prompt_style == "separate":
            prompt = prompts.planner_messages(state, reflections, hint)
            return _first_line(self._chat("planner", prompt, cost).text), prompt, None
        prompt = prompts.shared_planner(state, reflections, hint)
        reply = self._chat("planner", prompt, cost, stop=["\n"])  # one line is all it needs
        conversation = [*prompt, {"role": "assistant", "content": reply.text}]
        return _first_line(reply.text), prompt, conversation

    def _act_choice(
        self, ctx: _Step, conversation: list[Message] | None, cost: _Cost
    ) -> dict[str, Any]:
        """Choice among numbered candidates: the critic's good items first, its bad ones out."""
        first = [p for p in map(self.position_of, ctx.good) if p >= 0 and p not in ctx.exclude]
        avoid = {p for p in map(self.position_of, ctx.bad) if p >= 0}
        candidates = self.candidates(ctx.exclude | avoid, ctx.hint, self.cfg.n_choices, first)
        lines = prompts.candidate_lines(
            [self.titles[c] for c in candidates], [self.genres[c] for c in candidates]
        )
        hint = prompts.hint_text(ctx.hint)
        if conversation is None:  # ActOnly, or the separate layout's thought
            conversation = prompts.shared_state("\n".join(filter(None, (ctx.state, ctx.thought))))
        else:
            hint = ""  # the planner's prompt held it
        prompt = prompts.shared_actor(conversation, lines, ctx.advice, hint)
        pick, response = self._choose(prompt, len(candidates), cost)
        item = candidates[0] if pick is None else candidates[pick]
        return {
            "prompt": prompt,
            "response": response,
            "title": self.titles[item],
            "item": item,
            "grounding": "exact",
            "similarity": 1.0,
            "candidates": candidates,
            "chosen_by": "fallback" if pick is None else "llm",
        }

    def _act_score(self, ctx: _Step, cost: _Cost) -> dict[str, Any]:
        """Log-likelihood of `recommend[title]` over K candidates."""
        candidates = self.candidates(ctx.exclude, ctx.hint)
        titles = [self.titles[c] for c in candidates]
        hint = prompts.hint_text(ctx.hint)
        prompt = prompts.actor_messages(ctx.state, ctx.thought, hint, ctx.advice, titles, titles[0])
        item, scored = self._best_candidate(prompt, candidates, cost)
        title = self.titles[item]
        return {
            "prompt": prompt,
            "response": prompts.ACTION_FORMAT.format(title=title),
            "title": title,
            "item": item,
            "grounding": "exact",
            "similarity": 1.0,
            "chosen_by": "llm" if scored else "fallback",
        }

    def _act_generate(self, ctx: _Step, cost: _Cost) -> dict[str, Any]:
        """`recommend[title]` written by the LLM and grounded; an unparsed answer or a repeat
        falls back to the best-scored candidate."""
        candidates = self.candidates(ctx.exclude, ctx.hint)
        example = self.titles[candidates[0]]  # a hint-genre item shows the format
        hint = prompts.hint_text(ctx.hint)
        prompt = prompts.actor_messages(ctx.state, ctx.thought, hint, ctx.advice, example=example)
        response = self._chat("actor", prompt, cost).text
        title = parse_action(response)
        item, grounding, similarity, chosen_by = -1, "none", None, "fallback"
        if title is not None:
            item, grounding, similarity = self.ground(title)
            chosen_by = "fallback" if item in ctx.exclude else "llm"
        if chosen_by == "fallback":
            item, _ = self._best_candidate(prompt, candidates, cost)
        return {
            "prompt": prompt,
            "response": response,
            "title": title,
            "item": item,
            "grounding": grounding,
            "similarity": similarity,
            "chosen_by": chosen_by,
        }

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

    def episode_items(self, titles: Sequence[str]) -> set[int]:
        """Column positions of every title recommended so far (an item whose title another
        item shares counts as recommended too: the user sees the same title)."""
        return {p for t in titles for p in self.positions.get(t, ())}

    def candidates(
        self,
        exclude: set[int],
        genres: Sequence[str] = (),
        k: int | None = None,
        first: Sequence[int] = (),
    ) -> list[int]:
        """`k` (default `n_candidates`) seeded candidates not in `exclude`: the items `first`
        (the actor memory's advice), then half of the rest from `genres` when known."""
        n_items = len(self.titles)
        allowed = np.setdiff1d(np.arange(n_items), np.fromiter(exclude, np.int64, len(exclude)))
        if len(allowed) == 0:
            allowed = np.arange(n_items)
        k = min(self.cfg.n_candidates if k is None else k, len(allowed))
        picked = list(dict.fromkeys(int(i) for i in first))[:k]
        allowed = np.setdiff1d(allowed, np.asarray(picked, np.int64))
        if genres:
            wanted = set(genres)
            pool = [i for i in allowed.tolist() if wanted & set(self.genres[i])]
            if pool:
                n = min(len(pool), max((k + 1) // 2 - len(picked), 0))
                picked += [pool[j] for j in self.rng.choice(len(pool), n, replace=False)]
        rest = np.setdiff1d(allowed, np.asarray(picked, np.int64))
        n = min(len(rest), k - len(picked))
        picked += rest[self.rng.choice(len(rest), n, replace=False)].tolist()
        return picked

    def _choose(self, prompt: list[Message], n: int, cost: _Cost) -> tuple[int | None, str]:
        """(0-based candidate, answer text): the number with the highest log-likelihood as the
        answer to `prompt`; a backend that cannot score writes it (None if none parses)."""
        labels = [str(j) for j in range(1, n + 1)]
        try:
            if not self.scores_choices:
                raise RlrecError("the backend cannot score a choice")
            scored = self.backend.score_call(prompt, labels)
        except RlrecError:
            self.scores_choices = False  # one request per step from now on
            reply = self._chat("actor", prompt, cost, max_tokens=3, stop=["\n"])
            return prompts.parse_choice(reply.text, n), reply.text
        self._count("actor", scored, cost)
        pick = int(np.argmax(scored.scores))
        return pick, labels[pick]

    def _best_candidate(
        self, prompt: list[Message], candidates: list[int], cost: _Cost
    ) -> tuple[int, bool]:
        """(the candidate whose `recommend[title]` has the highest log-likelihood, True), or
        (the first candidate, a seeded random item, False) when the backend cannot score."""
        actions = [prompts.ACTION_FORMAT.format(title=self.titles[c]) for c in candidates]
        try:  # the original call's latency, cached or not (as for chat answers)
            scored = self.backend.score_call(prompt, actions)
        except RlrecError:
            return candidates[0], False
        tokens = sum(self.backend.count_tokens(m["content"]) for m in prompt)
        tokens += sum(self.backend.count_tokens(a) for a in actions)
        self._count("actor", scored, cost, tokens)
        return candidates[int(np.argmax(scored.scores))], True

    def _chat(
        self,
        role: str,
        messages: list[Message],
        cost: _Cost | None = None,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
    ) -> Completion:
        reply = self.backend.chat(
            messages,
            temperature=self.cfg.temperature,
            max_tokens=max_tokens or self.cfg.max_tokens,
            stop=stop,
        )
        self._count(role, reply, cost)
        return reply

    def _count(
        self,
        role: str,
        reply: Completion | Scored,
        cost: _Cost | None,
        tokens: int | None = None,
    ) -> None:
        """Add one call to `stats[role]` and to the step's `cost` (`tokens`: the step's token
        count when the backend reports none)."""
        generated = getattr(reply, "completion_tokens", 0)
        if tokens is None:
            tokens = reply.prompt_tokens + generated
        self.stats[role].update(
            {
                "calls": 1,
                "prompt_tokens": reply.prompt_tokens,
                "reused_tokens": reply.reused_tokens,
                "generated_tokens": generated,
                "prompt_eval_s": reply.prompt_eval_s,
                "generation_s": reply.eval_s,
                "latency_s": reply.latency_s,
            }
        )
        if cost is not None:
            cost.tokens += tokens
            cost.latency += reply.latency_s

    # -- memories ----------------------------------------------------------------------------

    @property
    def uses_reflections(self) -> bool:
        return self.cfg.mode in ("billp", "reflexion")

    @property
    def learns_in_context(self) -> bool:
        """Whether episodes change later answers (through memories): ActOnly and ReAct don't."""
        return self.uses_reflections

    def retrieve_reflections(self, state: str) -> list[str]:
        """All reflections if at most K exist, else the K nearest to the state."""
        k = self.cfg.n_reflections
        if k == 0 or not self.reflections:
            return []
        if len(self.reflections) <= k:
            return list(self.reflections.values)
        return [text for text, _ in self.reflections.search(state, k)]

    def actor_hits(self, history: Sequence[str]) -> tuple[list[str], list[str]]:
        """(titles to encourage, titles to avoid): actor-memory hits within the thresholds, the
        critic's verdicts on similar states."""
        lo, hi = self.cfg.actor_band
        good, bad = [], []
        for (title, sign), score in self.actor_memory.search(
            _memory_key(history), self.cfg.actor_memory_k
        ):
            if lo < score < hi or score < self.cfg.actor_exact:
                (good if sign > 0 else bad).append(title)
        return good, bad

    def actor_advice(self, history: Sequence[str]) -> str:
        """The actor-memory hits as "we encourage to recommend ..."."""
        return prompts.advice_text(*self.actor_hits(history))

    def value(self, history: Sequence[str]) -> tuple[float, int, float]:
        """Critic V(s) in [-5, 5] with (tokens, latency) of the call; cached per state."""
        shown = list(history)[-self.cfg.history_len :]
        key = _memory_key(shown)
        if key in self._values:
            return self._values[key][0], 0, 0.0
        memory = ""
        hits = self.critic_memory.search(key, 1)
        if hits and hits[0][1] < self.cfg.critic_threshold:
            memory = f"{hits[0][0]:.1f}"
        if self.cfg.prompt_style == "shared":
            messages, stop = prompts.shared_critic(shown, memory), ["\n"]
        else:
            messages, stop = prompts.critic_messages(shown, memory), None
        reply = self._chat("critic", messages, max_tokens=self.cfg.critic_max_tokens, stop=stop)
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
        if self.cfg.prompt_style == "shared":
            messages = prompts.shared_reflector(text)
        else:
            messages = prompts.reflector_messages(text)
        reply = self._chat("reflector", messages, max_tokens=self.cfg.reflect_max_tokens)
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


@dataclass
class _Step:
    """What one step's actor sees: the state, the hint genres, the planner's thought, the actor
    memory's good and bad titles, and the items it must not recommend again."""

    state: str
    hint: list[str]
    thought: str
    good: list[str]
    bad: list[str]
    exclude: set[int]

    @property
    def advice(self) -> str:
        return prompts.advice_text(self.good, self.bad)


class _Cost:
    """Tokens and latency spent on one step (filled by `LLMAgent._count`)."""

    def __init__(self) -> None:
        self.tokens = 0
        self.latency = 0.0


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
