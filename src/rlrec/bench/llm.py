"""`rlrec bench llm`: the LLM backend's raw generation speed, and the agent's per-step cost.

Raw: `n_prompts` short chat prompts sent to a backend with an empty, private response cache (so
every call reaches the model), `max_tokens` each; reported as completion tokens per second of
model time and per-call latency percentiles. Agent: when an `agent_step` callable is given, it
is timed for `n_steps` steps and the tokens it generated per wall-clock second are reported next
to the raw figure; the difference is the agent's overhead (prompt building, memory retrieval,
grounding, parsing). Both are measured in the same run.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from rlrec.bench import machine_info
from rlrec.interactive.llm import LLMConfig, make_backend

PROMPTS = (
    "Recommend one movie for a fan of {g} films. Answer as recommend[title].",
    "A user enjoyed three {g} movies in a row. Suggest the next one as recommend[title].",
)
GENRES = ("comedy", "horror", "science fiction", "romance", "western", "animated")


def bench_raw(cfg: LLMConfig, n_prompts: int = 8, max_tokens: int = 64) -> dict[str, Any]:
    """Generation tokens/s and latency of `cfg`'s backend, every call a cache miss."""
    with tempfile.TemporaryDirectory() as cache_dir:
        backend = make_backend(cfg.model_copy(update={"cache_dir": cache_dir}))
        latencies, tokens = [], []
        for i in range(n_prompts):
            text = PROMPTS[i % len(PROMPTS)].format(g=GENRES[i % len(GENRES)])
            out = backend.chat([{"role": "user", "content": text}], max_tokens=max_tokens)
            latencies.append(out.latency_s)
            tokens.append(out.completion_tokens)
    seconds = float(np.sum(latencies))
    return {
        "backend": cfg.backend,
        "model": backend.model_name,
        "calls": n_prompts,
        "completion_tokens": int(np.sum(tokens)),
        "tokens_per_s": float(np.sum(tokens) / seconds) if seconds else None,
        **_latency(latencies, "latency_s"),
    }


def bench_agent(agent_step: Callable[[], dict[str, Any]], n_steps: int = 8) -> dict[str, Any]:
    """Time `agent_step()` (returns a dict with `tokens`, completion tokens of that step)."""
    latencies, tokens = [], []
    for _ in range(n_steps):
        start = time.perf_counter()
        step = agent_step()
        latencies.append(time.perf_counter() - start)
        tokens.append(int(step.get("tokens") or 0))
    seconds = float(np.sum(latencies))
    return {
        "steps": n_steps,
        "completion_tokens": int(np.sum(tokens)),
        "tokens_per_s": float(np.sum(tokens) / seconds) if seconds else None,
        **_latency(latencies, "step_latency_s"),
    }


def bench_llm(
    cfg: LLMConfig,
    n_prompts: int = 8,
    max_tokens: int = 64,
    agent_step: Callable[[], dict[str, Any]] | None = None,
    n_steps: int = 8,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "machine": machine_info(),
        "raw": bench_raw(cfg, n_prompts, max_tokens),
    }
    if agent_step is not None:
        result["agent"] = bench_agent(agent_step, n_steps)
        raw_tps, agent_tps = result["raw"]["tokens_per_s"], result["agent"]["tokens_per_s"]
        if raw_tps and agent_tps:
            result["agent_over_raw_tokens_per_s"] = agent_tps / raw_tps
    return result


def _latency(values: list[float], name: str) -> dict[str, float]:
    v = np.asarray(values, dtype=np.float64)
    return {
        f"{name}_mean": float(v.mean()),
        f"{name}_p50": float(np.percentile(v, 50)),
        f"{name}_p95": float(np.percentile(v, 95)),
    }
