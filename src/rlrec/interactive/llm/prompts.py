"""Every prompt of the LLM expert (BiLLP-style agent, docs/ilrec.md#the-llm-expert), in one place.

Written for a small model (SmolLM2-135M-Instruct): short instructions, one explicit answer format
per module, and the state as plain lines. Each function returns chat messages
(`[{"role": ..., "content": ...}]`) for `Backend.chat` / `Backend.score`.

- Planner: ReAct-style "Thought:" with one few-shot example and retrieved reflections.
- Actor: `recommend[title]`, with the exploration hint and the actor-memory advice; in
  scoring mode the candidates are listed and each `recommend[title]` is scored.
- Critic: one integer value in [-5, 5].
- Reflector: a short diagnosis and plan after a finished episode.

Two layouts (`AgentConfig.prompt_style`):

- `separate`: each module its own conversation, the instructions inside the user message
  (`planner_messages`, `actor_messages`, `critic_messages`, `reflector_messages`).
- `shared`: one static system message (`GUIDE`: the task, the reward rule and every answer
  format with the planner's example) opens every call, the state follows it in the same words
  for the critic and the planner, and the actor continues the planner's conversation with a
  numbered candidate list (`shared_planner`, `shared_actor`, `shared_critic`,
  `shared_reflector`). A backend that keeps the KV state of a shared prefix (llama.cpp) then
  evaluates only each call's new tokens.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rlrec.interactive.llm.backends import Message

__all__ = [
    "ACTION_FORMAT",
    "GUIDE",
    "actor_messages",
    "candidate_lines",
    "critic_messages",
    "episode_text",
    "hint_text",
    "parse_choice",
    "planner_messages",
    "reflector_messages",
    "shared_actor",
    "shared_critic",
    "shared_planner",
    "shared_reflector",
    "state_text",
]

SYSTEM = "You are a movie recommender. Keep the user watching as long as possible."
ACTION_FORMAT = "recommend[{title}]"

PLANNER_EXAMPLE = (
    "Example:\n"
    "Recent: Toy Story (1995) reward=4.5; Heat (1995) reward=1.5\n"
    "Thought: The user likes animation and dislikes crime. Try a new family movie.\n"
)
REFLECTIONS_HEADER = (
    "You have attempted to recommend items to users before. Lessons learned; use them to "
    "improve your strategy:"
)
REFLECTOR_INSTRUCTION = (
    "You were unsuccessful in retaining multiple interactions because the user was not "
    "satisfied. Diagnose a possible reason for failure and write a new, concise, high-level "
    "plan in one or two sentences."
)


def state_text(history: Sequence[str], window: Sequence[tuple[str, float]]) -> str:
    """The state s_t: recent recommendations (title, reward) and the longer viewing history."""
    lines = []
    if history:
        lines.append("The user viewing history is [" + "; ".join(history) + "]")
    if window:
        recent = "; ".join(f"{title} reward={reward:.1f}" for title, reward in window)
        lines.append("Recent: " + recent)
    else:
        lines.append("Recent: none (first recommendation)")
    return "\n".join(lines)


def hint_text(genres: Sequence[str]) -> str:
    """The exploration hint (BiLLP's category analysis tool)."""
    if not genres:
        return ""
    return f"(Please recommend {' and '.join(genres)} items to help users explore their interests)"


def planner_messages(state: str, reflections: Sequence[str] = (), hint: str = "") -> list[Message]:
    """Planner g_t = f_plan(s_t, M_p, I_P): one "Thought:" line."""
    parts = []
    if reflections:
        parts.append(REFLECTIONS_HEADER + "\n" + "\n".join(f"- {r}" for r in reflections))
    parts += [
        "High rewards (up to 5) keep the user; a reward below 2 or a movie too similar to the "
        "recent ones makes the user leave.",
        PLANNER_EXAMPLE,
        state,
    ]
    if hint:
        parts.append(hint)
    parts.append("Write one short line starting with 'Thought:'.")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(parts)}]


def actor_messages(
    state: str,
    thought: str = "",
    hint: str = "",
    advice: str = "",
    candidates: Sequence[str] = (),
    example: str = "Babe (1995)",
) -> list[Message]:
    """Actor: answer exactly `recommend[<movie title>]` (from `candidates` when given). The
    format and one example action come first: a 135M model follows a shown answer, not a rule."""
    parts = [
        "Answer format: recommend[<movie title>]",
        f"Example: {ACTION_FORMAT.format(title=example)}",
        "",
        state,
    ]
    if thought:
        parts.append(thought if thought.lower().startswith("thought") else f"Thought: {thought}")
    if advice:
        parts.append(advice)
    if hint:
        parts.append(hint)
    if candidates:
        parts.append("Candidates: " + "; ".join(candidates))
    parts.append("Which movie next? Answer only recommend[<movie title>].")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(parts)}]


def advice_text(good: Sequence[str], bad: Sequence[str]) -> str:
    """The actor memory rendered as advice."""
    parts = []
    if good:
        parts.append("we encourage to recommend " + ", ".join(good))
    if bad:
        parts.append("not to recommend " + ", ".join(bad))
    return ("Past experience: " + " and ".join(parts) + ".") if parts else ""


def critic_messages(history: Sequence[str], memory: str = "") -> list[Message]:
    """Critic V(s): one integer in [-5, 5]."""
    parts = ["The user viewing history is [" + "; ".join(history) + "]"]
    if memory:
        parts.append(f"A similar user had value {memory}.")
    parts.append(
        "How likely is the user to keep watching? Answer with one integer from -5 (leaves now) "
        "to 5 (stays long). Value:"
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(parts)}]


def episode_text(steps: Sequence[tuple[str, float, bool]]) -> str:
    """A finished episode as ReAct-style lines: Action n / Observation n."""
    lines = []
    for n, (title, reward, done) in enumerate(steps, start=1):
        lines.append(f"Action {n}: {ACTION_FORMAT.format(title=title)}")
        status = "Episode finished, User Stop" if done else "Episode continue"
        lines.append(f"Observation {n}: {status}, reward={reward:.1f}")
    return "\n".join(lines)


def reflector_messages(episode: str) -> list[Message]:
    """Reflector m_k = f_ref(E, I_r)."""
    content = f"{episode}\n{REFLECTOR_INSTRUCTION}\nReflection:"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}]


# -- the shared layout: a static system message first, then the state ---------------------------

GUIDE = (
    f"{SYSTEM} Each turn you see the movies recommended so far and the user's rewards for the "
    "recent ones (1 to 5). A reward below 2, or a movie too similar to the recent ones, makes "
    "the user leave; genres the user has not seen recently keep the user curious.\n"
    "To plan, write one line: Thought: <what the user likes and what to try next>.\n"
    + PLANNER_EXAMPLE
    + "To recommend, answer with the number of one listed candidate.\n"
    "To rate a user, answer with one integer from -5 (leaves now) to 5 (stays long)."
)
PLAN_QUESTION = "Write one short line starting with 'Thought:'."
CHOICE_QUESTION = "Which candidate next? Answer with its number only."
VALUE_QUESTION = "How likely is the user to keep watching? Value:"


def _shared(*parts: str) -> list[Message]:
    content = "\n".join(p for p in parts if p)
    return [{"role": "system", "content": GUIDE}, {"role": "user", "content": content}]


def shared_planner(state: str, reflections: Sequence[str] = (), hint: str = "") -> list[Message]:
    """Planner g_t = f_plan(s_t, M_p, I_P) in the shared layout: the state first (as the critic
    sees its history), then the reflections and the exploration hint."""
    lessons = ""
    if reflections:
        lessons = REFLECTIONS_HEADER + "\n" + "\n".join(f"- {r}" for r in reflections)
    return _shared(state, lessons, hint, PLAN_QUESTION)


def shared_actor(
    conversation: Sequence[Message], candidates: Sequence[str], advice: str = "", hint: str = ""
) -> list[Message]:
    """The actor's turn: `conversation` (the planner's messages and its answer, or for ActOnly
    the state's messages) followed by the advice and the numbered `candidates` (`candidate_lines`).
    """
    ask = "\n".join(p for p in (advice, hint, "Candidates:", *candidates, CHOICE_QUESTION) if p)
    return [*conversation, {"role": "user", "content": ask}]


def shared_state(state: str) -> list[Message]:
    """The state alone in the shared layout (ActOnly's actor continues it)."""
    return _shared(state)


def candidate_lines(titles: Sequence[str], genres: Sequence[Sequence[str]]) -> list[str]:
    """Numbered candidates "1. Title - Genre, Genre" (the numbers are the answers scored)."""
    out = []
    for n, (title, gs) in enumerate(zip(titles, genres, strict=True), start=1):
        out.append(f"{n}. {title}" + (f" - {', '.join(gs)}" if gs else ""))
    return out


def parse_choice(text: str, n: int) -> int | None:
    """The 0-based candidate named by the first number in `text`, or None when it names none
    of the `n` candidates."""
    match = re.search(r"\d+", text)
    if match is None or not 1 <= int(match.group()) <= n:
        return None
    return int(match.group()) - 1


def shared_critic(history: Sequence[str], memory: str = "") -> list[Message]:
    """Critic V(s) in the shared layout: the history line as the planner's state opens."""
    line = "The user viewing history is [" + "; ".join(history) + "]"
    similar = f"A similar user had value {memory}." if memory else ""
    return _shared(line, similar, VALUE_QUESTION)


def shared_reflector(episode: str) -> list[Message]:
    """Reflector m_k = f_ref(E, I_r) in the shared layout."""
    return _shared(episode, REFLECTOR_INSTRUCTION, "Reflection:")
