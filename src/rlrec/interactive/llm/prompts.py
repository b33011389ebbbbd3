"""Every prompt of the LLM expert (BiLLP-style agent, ilrec.md §4), in one place.

Written for a small model (SmolLM2-135M-Instruct): short instructions, one explicit answer format
per module, and the state as plain lines. Each function returns chat messages
(`[{"role": ..., "content": ...}]`) for `Backend.chat` / `Backend.score`.

- Planner (§4.2): ReAct-style "Thought:" with one few-shot example and retrieved reflections.
- Actor (§4.3): `recommend[title]`, with the exploration hint and the actor-memory advice; in
  scoring mode the candidates are listed and each `recommend[title]` is scored.
- Critic (§4.4): one integer value in [-5, 5].
- Reflector (§4.1): a short diagnosis and plan after a finished episode.
"""

from __future__ import annotations

from collections.abc import Sequence

from rlrec.interactive.llm.backends import Message

__all__ = [
    "ACTION_FORMAT",
    "actor_messages",
    "critic_messages",
    "episode_text",
    "hint_text",
    "planner_messages",
    "reflector_messages",
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
    """The exploration hint (BiLLP's category analysis tool, §4.3)."""
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
    """The actor memory rendered as advice (§4.3)."""
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
