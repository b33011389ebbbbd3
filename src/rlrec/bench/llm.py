"""`rlrec bench llm`: the LLM backend's raw speed, and what one agent step costs, per module.

Every call reaches the model: the backends are built with the response cache off
(`LLMConfig.cache=False`), so a warm cache from an earlier run cannot answer for the model.

Raw: `n_prompts` short chat prompts, `max_tokens` each: generated tokens per second of
generation, prompt tokens per second of prompt evaluation (the backend's own timings where it
reports them, llama.cpp does) and per-call latency percentiles.

Agents: each named agent plays the same episodes (`play(agent)` returns them, e.g. the first
train users as in `demos generate`), timed by the wall clock. Reported per step, overall and per
module (planner, actor, critic, reflector): calls, prompt tokens and how many of them were
evaluated (the rest were reused from the KV cache), generated tokens, seconds of prompt
evaluation and of generation; the modules' token rates over the raw rates (`over_raw`); the
episodes' R_traj and length, and the share of actions the LLM chose. With two agents the first
is the reference and `speedup` is its seconds per step over each other's. All figures come from
one run: the machines are shared and noisy.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from rlrec.bench import machine_info
from rlrec.interactive.llm import LLMConfig, make_backend

PROMPTS = (
    "Recommend one movie for a fan of {g} films. Answer as recommend[title].",
    "A user enjoyed three {g} movies in a row. Suggest the next one as recommend[title].",
)
GENRES = ("comedy", "horror", "science fiction", "romance", "western", "animated")
FIELDS = (
    "calls",
    "prompt_tokens",
    "reused_tokens",
    "generated_tokens",
    "prompt_eval_s",
    "generation_s",
    "latency_s",
)
Episode = Sequence[tuple[str, float, bool]]


def bench_raw(cfg: LLMConfig, n_prompts: int = 8, max_tokens: int = 64) -> dict[str, Any]:
    """Token rates and latency of `cfg`'s backend on short prompts, every call a cache miss."""
    backend = make_backend(cfg.model_copy(update={"cache": False}))
    totals: Counter[str] = Counter()
    latencies = []
    for i in range(n_prompts):
        text = PROMPTS[i % len(PROMPTS)].format(g=GENRES[i % len(GENRES)])
        out = backend.chat([{"role": "user", "content": text}], max_tokens=max_tokens)
        latencies.append(out.latency_s)
        totals.update(
            {
                "calls": 1,
                "prompt_tokens": out.prompt_tokens,
                "reused_tokens": out.reused_tokens,
                "generated_tokens": out.completion_tokens,
                "prompt_eval_s": out.prompt_eval_s,
                "generation_s": out.eval_s,
                "latency_s": out.latency_s,
            }
        )
    seconds = totals["latency_s"]
    return {
        "backend": cfg.backend,
        "model": backend.model_name,
        "calls": n_prompts,
        "completion_tokens": int(totals["generated_tokens"]),
        "tokens_per_s": totals["generated_tokens"] / seconds if seconds else None,
        **rates(totals),
        **_latency(latencies, "latency_s"),
    }


def rates(totals: Mapping[str, float]) -> dict[str, float | None]:
    """Prompt tokens evaluated per second of prompt evaluation, generated tokens per second of
    generation (None without the backend's timings)."""
    evaluated = totals.get("prompt_tokens", 0) - totals.get("reused_tokens", 0)
    p_s, g_s = totals.get("prompt_eval_s", 0.0), totals.get("generation_s", 0.0)
    return {
        "prompt_tokens_per_s": evaluated / p_s if p_s else None,
        "generation_tokens_per_s": totals.get("generated_tokens", 0) / g_s if g_s else None,
    }


def per_step(totals: Mapping[str, float], steps: int) -> dict[str, float]:
    """A module's totals divided by the number of agent steps (evaluated = prompt - reused)."""
    out = {name: totals.get(name, 0) / max(steps, 1) for name in FIELDS}
    out["evaluated_tokens"] = out["prompt_tokens"] - out["reused_tokens"]
    return out


def over_raw(own: Mapping[str, float | None], raw: Mapping[str, Any]) -> dict[str, float | None]:
    """The module's token rates as a share of the raw backend's."""
    out: dict[str, float | None] = {}
    for name in ("prompt_tokens_per_s", "generation_tokens_per_s"):
        mine, base = own.get(name), raw.get(name)
        out[name] = mine / base if mine is not None and base else None
    return out


def bench_agent(
    agent: Any, play: Callable[[Any], list[Episode]], raw: Mapping[str, Any]
) -> dict[str, Any]:
    """Time `play(agent)`; the agent's per-module costs per step and its episodes' returns."""
    before = {role: Counter(c) for role, c in agent.stats.items()}
    chosen_before, steps_before = Counter(agent.chosen), agent.steps
    start = time.perf_counter()
    episodes = play(agent)
    wall = time.perf_counter() - start
    steps = agent.steps - steps_before
    roles, total = {}, Counter()
    for role, counts in agent.stats.items():
        spent = Counter(counts)
        spent.subtract(before[role])
        if spent["calls"]:
            own = rates(spent)
            roles[role] = {**per_step(spent, steps), **own, "over_raw": over_raw(own, raw)}
        total.update(spent)
    chosen = Counter(agent.chosen)
    chosen.subtract(chosen_before)
    own = rates(total)
    return {
        "settings": {
            k: getattr(agent.cfg, k) for k in ("mode", "actor_mode", "prompt_style", "max_tokens")
        },
        "episodes": len(episodes),
        "steps": steps,
        "seconds": wall,
        "seconds_per_step": wall / steps if steps else None,
        "R_traj": float(np.mean([sum(r for _, r, _ in e) for e in episodes])),
        "Len": float(np.mean([len(e) for e in episodes])),
        "llm_chosen_share": chosen["llm"] / steps if steps else None,
        "per_step": {**per_step(total, steps), **own, "over_raw": over_raw(own, raw)},
        "roles": roles,
    }


def bench_llm(
    cfg: LLMConfig,
    n_prompts: int = 8,
    max_tokens: int = 64,
    agents: Mapping[str, Any] | None = None,
    play: Callable[[Any], list[Episode]] | None = None,
) -> dict[str, Any]:
    """The raw backend, then each of `agents` (name -> agent, built with the cache off) playing
    `play`'s episodes; the first agent is the reference of `speedup`."""
    result: dict[str, Any] = {
        "machine": machine_info(),
        "raw": bench_raw(cfg, n_prompts, max_tokens),
    }
    if agents and play is not None:
        result["agents"] = {name: bench_agent(a, play, result["raw"]) for name, a in agents.items()}
        result["speedup"] = speedups(result["agents"])
    return result


def speedups(agents: Mapping[str, Mapping[str, Any]]) -> dict[str, float | None]:
    """The first agent's seconds per step over each other agent's."""
    names = list(agents)
    if not names:
        return {}
    base = agents[names[0]]["seconds_per_step"]
    out = {}
    for name in names[1:]:
        mine = agents[name]["seconds_per_step"]
        out[name] = base / mine if base and mine else None
    return out


def _latency(values: list[float], name: str) -> dict[str, float]:
    v = np.asarray(values, dtype=np.float64)
    return {
        f"{name}_mean": float(v.mean()),
        f"{name}_p50": float(np.percentile(v, 50)),
        f"{name}_p95": float(np.percentile(v, 95)),
    }
