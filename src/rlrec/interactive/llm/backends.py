"""LLM backends behind one small protocol: chat, log-likelihood scoring, token counts.

- `llamacpp` (default): SmolLM2-135M-Instruct Q4_1 in-process through llama-cpp-python.
- `openai`: any OpenAI-compatible server (vLLM, Ollama, llama.cpp server, hosted APIs).
- `replay`: answers from recorded responses and fails loudly on a miss (for tests).

`Backend` holds what every backend shares: each `chat` / `score` call goes through the on-disk
`ResponseCache` keyed by (backend, model, kind, messages, parameters) and is counted in `usage`
(`LLMConfig.cache=False` sends every call to the model: benchmarks measure the model, not the
cache). A backend only implements `_chat`, `_score` and `count_tokens`. Besides the answer, a
backend may report where the time went: `reused_tokens` (prompt tokens whose KV state was kept
from the previous call), `prompt_eval_s` and `eval_s` (seconds of prompt evaluation and of
generation); every answer carries them, zero when the backend cannot tell.
`rlrec.interactive.llm.make_backend` builds the one a config names (the implementations import
this module, never the reverse).
"""

from __future__ import annotations

import abc
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from rlrec.config import Config
from rlrec.interactive.llm.cache import ResponseCache, Usage, cache_key

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}
CHAT_PARAMS = ("temperature", "max_tokens", "seed", "stop")


class LLMConfig(Config):
    """Which LLM answers, and how its calls are sent, retried and cached."""

    backend: Literal["llamacpp", "openai", "replay"] = Field(
        "llamacpp", description="llamacpp (in-process), openai (HTTP server) or replay (tests)"
    )
    model: str | None = Field(
        None, description="GGUF path for llamacpp (None = bundled SmolLM2); served name for openai"
    )
    base_url: str = Field(
        "http://127.0.0.1:8000/v1", description="OpenAI-compatible API root (ends in /v1)"
    )
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="environment variable holding the API key (optional)"
    )
    temperature: float = Field(0.0, ge=0.0, description="sampling temperature (0 = greedy)")
    max_tokens: int = Field(256, ge=1, description="most tokens generated per answer")
    seed: int = Field(0, description="sampling seed (and the seed of the retry jitter)")
    timeout_s: float = Field(60.0, gt=0, description="seconds to wait for one HTTP answer")
    max_retries: int = Field(4, ge=0, description="retries after a 429/5xx/timeout/connect error")
    backoff_base_s: float = Field(0.5, ge=0, description="first retry delay; doubles per retry")
    backoff_max_s: float = Field(8.0, ge=0, description="cap on one retry delay")
    max_concurrency: int = Field(8, ge=1, description="most HTTP requests in flight in chat_many")
    cache_dir: Path | None = Field(
        None, description="response cache folder (None = ${RLREC_HOME:-~/.cache/rlrec}/llm)"
    )
    cache: bool = Field(True, description="answer from the response cache (off: every call runs)")
    n_ctx: int = Field(2048, ge=64, description="llamacpp context length in tokens")
    repack: bool = Field(
        False, description="llamacpp: repack weights for AMX/AVX-512 kernels (crashed here)"
    )
    replay_from: Literal["llamacpp", "openai"] = Field(
        "llamacpp", description="replay: the backend whose recorded responses are replayed"
    )
    replay_file: Path | None = Field(
        None, description="replay: a JSON(L) file of recorded exchanges (else the cache folder)"
    )


@dataclass(frozen=True)
class Completion:
    """One chat answer. `latency_s` is the original call's latency, also for a cache hit, and
    so are `reused_tokens`, `prompt_eval_s` and `eval_s` (see the module docstring)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cached: bool
    reused_tokens: int = 0
    prompt_eval_s: float = 0.0
    eval_s: float = 0.0


@dataclass(frozen=True)
class Scored:
    """Log-likelihoods of continuations, with the call's cost as `Completion` reports it."""

    scores: list[float]
    prompt_tokens: int
    latency_s: float
    cached: bool
    reused_tokens: int = 0
    prompt_eval_s: float = 0.0
    eval_s: float = 0.0


def chat_params(cfg: LLMConfig, params: dict[str, Any]) -> dict[str, Any]:
    """The full sampling parameters of one chat call: `params` over the config's defaults."""
    unknown = set(params) - set(CHAT_PARAMS)
    if unknown:
        raise TypeError(f"unknown chat parameters {sorted(unknown)}; known: {CHAT_PARAMS}")
    defaults = {"temperature": cfg.temperature, "max_tokens": cfg.max_tokens, "seed": cfg.seed}
    return {**defaults, "stop": None, **params}


def approx_tokens(text: str) -> int:
    """A tokenizer-free estimate: about 4 characters per token (for backends without one)."""
    return (len(text) + 3) // 4


def default_cache_dir() -> Path:
    home = os.environ.get("RLREC_HOME") or Path.home() / ".cache" / "rlrec"
    return Path(home).expanduser() / "llm"


class Backend(abc.ABC):
    """The protocol: `chat`, `chat_many`, `score`, `count_tokens`; cached and counted."""

    name: str = ""

    def __init__(self, cfg: LLMConfig, cache: ResponseCache | None = None):
        self.cfg = cfg
        self.cache = cache or ResponseCache(cfg.cache_dir or default_cache_dir())
        self.usage = Usage()

    # --- what a backend implements -------------------------------------------------------------

    @property
    @abc.abstractmethod
    def model_name(self) -> str:
        """The model's name as it enters the cache key."""

    @abc.abstractmethod
    def _chat(self, messages: list[Message], params: dict[str, Any]) -> dict[str, Any]:
        """Ask the model; return {"text", "prompt_tokens", "completion_tokens"}."""

    @abc.abstractmethod
    def _score(self, messages: list[Message], continuations: list[str]) -> list[float]:
        """Total log-likelihood of each continuation as the assistant's answer to `messages`."""

    @abc.abstractmethod
    def count_tokens(self, text: str) -> int:
        """Number of tokens in `text` for this backend's model."""

    # --- the shared, cached and counted entry points ---------------------------------------------

    def chat(self, messages: list[Message], **params: Any) -> Completion:
        """Answer `messages`; `params` override the config's temperature, max_tokens, seed, stop."""
        full = chat_params(self.cfg, params)
        request = self.request("chat", messages, full)
        response, cached = self._cached(request, lambda: self._chat(messages, full))
        return Completion(
            text=response["text"],
            prompt_tokens=response["prompt_tokens"],
            completion_tokens=response["completion_tokens"],
            latency_s=response["latency_s"],
            cached=cached,
            **_timings(response),
        )

    def chat_many(self, batch: list[list[Message]], **params: Any) -> list[Completion]:
        """`chat` for each conversation, in order (the openai backend sends them concurrently)."""
        return [self.chat(messages, **params) for messages in batch]

    def score(self, messages: list[Message], continuations: list[str]) -> list[float]:
        """Total log-likelihood (nats) of each continuation as the answer to `messages`."""
        return self.score_with_latency(messages, continuations)[0]

    def score_with_latency(
        self, messages: list[Message], continuations: list[str]
    ) -> tuple[list[float], float]:
        """(`score`, the original call's latency in seconds, also for a cache hit)."""
        scored = self.score_call(messages, continuations)
        return scored.scores, scored.latency_s

    def score_call(self, messages: list[Message], continuations: list[str]) -> Scored:
        """`score` with the call's cost (the original call's, also for a cache hit)."""
        request = self.request("score", messages, {"continuations": list(continuations)})
        response, cached = self._cached(request, lambda: self._scored(messages, continuations))
        return Scored(
            scores=[float(s) for s in response["scores"]],
            prompt_tokens=int(response.get("prompt_tokens", 0)),
            latency_s=float(response.get("latency_s", 0.0)),
            cached=cached,
            **_timings(response),
        )

    def _scored(self, messages: list[Message], continuations: list[str]) -> dict[str, Any]:
        """The response of one scoring call: {"scores", "prompt_tokens", timings...}. A backend
        that knows more than the scores (tokens, timings) overrides this."""
        scores = self._score(messages, list(continuations))
        return {"scores": scores, "prompt_tokens": self._count_prompt(messages)}

    def _count_prompt(self, messages: list[Message]) -> int:
        return sum(self.count_tokens(m["content"]) for m in messages)

    def request(self, kind: str, messages: list[Message], params: dict[str, Any]) -> dict:
        """The cache-key fields of one call (no secrets)."""
        return {
            "backend": self.name,
            "model": self.model_name,
            "kind": kind,
            "messages": [dict(m) for m in messages],
            "params": params,
        }

    def _cached(self, request: dict[str, Any], call) -> tuple[dict[str, Any], bool]:
        key = cache_key(request)
        hit = self.cache.get(key) if self.cfg.cache else None
        if hit is not None:
            self.usage.add(calls=1, cache_hits=1)
            return hit, True
        start = time.perf_counter()
        response = call()
        latency = time.perf_counter() - start
        response = {**response, "latency_s": latency}
        if self.cfg.cache:
            self.cache.put(key, request, response)
        self.usage.add(
            calls=1,
            prompt_tokens=response.get("prompt_tokens", 0),
            completion_tokens=response.get("completion_tokens", 0),
            latency_s=latency,
        )
        return response, False


def _timings(response: dict[str, Any]) -> dict[str, Any]:
    """The optional cost fields of a recorded response (absent in older cache entries)."""
    return {
        "reused_tokens": int(response.get("reused_tokens", 0)),
        "prompt_eval_s": float(response.get("prompt_eval_s", 0.0)),
        "eval_s": float(response.get("eval_s", 0.0)),
    }
