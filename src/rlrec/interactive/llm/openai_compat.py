"""Any OpenAI-compatible server (vLLM, Ollama, llama.cpp server, hosted APIs) over HTTP.

POST `{base_url}/chat/completions`. The API key is read from `os.environ[cfg.api_key_env]` when
set and sent as a Bearer header; it never enters the cache key, the cache files or a message.
429, 5xx, timeouts and connection errors are retried up to `max_retries` times with exponential
backoff (`backoff_base_s * 2**retry` times a jitter in [0.5, 1.5) drawn from an RNG seeded by
`cfg.seed`, capped at `backoff_max_s`), and so is an answer that is not a JSON object. `chat_many`
sends at most `max_concurrency` requests at once. `score` uses `/completions` with `echo=true,
logprobs=1, max_tokens=0` on a plain-text rendering of the conversation; servers that do not
support it get a clear error. A `usage` count that is not a whole number is one clear error.
"""

from __future__ import annotations

import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rlrec.errors import ConfigError, RlrecError
from rlrec.interactive.llm.backends import (
    Backend,
    Completion,
    LLMConfig,
    Message,
    approx_tokens,
)

RETRY_STATUS = {429, 500, 502, 503, 504}
LABEL_CHARS = 2  # continuations this short are scored in one request (a numbered choice)
TOP_LOGPROBS = 20  # the most the OpenAI API lists per token


class ServerAnswer(RlrecError):
    """The server answered with an error status that retrying will not fix."""


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(self, cfg: LLMConfig, **kwargs: Any):
        super().__init__(cfg, **kwargs)
        if not cfg.model:
            raise ConfigError("the openai backend needs llm.model (the served model's name)")
        try:
            import httpx
        except ImportError:
            raise RlrecError("the openai backend needs httpx (pip install httpx)") from None

        self._httpx = httpx
        self.url = cfg.base_url.rstrip("/")
        self._client = httpx.Client(timeout=cfg.timeout_s)
        self._rng = random.Random(cfg.seed)
        self._rng_lock = threading.Lock()
        self._slots = threading.Semaphore(cfg.max_concurrency)

    @property
    def model_name(self) -> str:
        return str(self.cfg.model)

    def close(self) -> None:
        self._client.close()

    def chat_many(self, batch: list[list[Message]], **params: Any) -> list[Completion]:
        """`chat` for each conversation, at most `max_concurrency` requests in flight."""
        workers = min(self.cfg.max_concurrency, max(len(batch), 1))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda messages: self.chat(messages, **params), batch))

    def _chat(self, messages: list[Message], params: dict[str, Any]) -> dict[str, Any]:
        body = {"model": self.cfg.model, "messages": messages, **_drop_none(params)}
        out = self.post("/chat/completions", body)
        try:
            text = out["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise RlrecError(f"LLM server at {self.url} sent an answer without choices") from None
        usage = out.get("usage") or {}
        return {
            "text": text,
            "prompt_tokens": self._token_count(usage, "prompt_tokens"),
            "completion_tokens": self._token_count(usage, "completion_tokens"),
        }

    def _token_count(self, usage: Any, key: str) -> int:
        """`usage[key]` as a non-negative integer (0 when absent); RlrecError otherwise."""
        value = usage.get(key) if isinstance(usage, dict) else "?"
        if value is None:
            return 0
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not whole:
            raise RlrecError(
                f"LLM server at {self.url} sent usage.{key} = {str(value)[:40]!r}, not a count"
            )
        if value < 0:
            raise RlrecError(f"LLM server at {self.url} sent a negative usage.{key}")
        return int(value)

    def _scored(self, messages: list[Message], continuations: list[str]) -> dict[str, Any]:
        """Short labels (a numbered choice: "1", "2", ...) in one request: the log-probabilities
        of the chat answer's first token (`top_logprobs`); a label the server does not list
        ranks below every listed one. Longer continuations: `_score`, a request each."""
        if not continuations or any(len(c) > LABEL_CHARS for c in continuations):
            return super()._scored(messages, continuations)
        body = {
            "model": self.cfg.model,
            "messages": messages,
            "max_tokens": 1,
            "temperature": 0.0,
            "logprobs": True,
            "top_logprobs": TOP_LOGPROBS,
        }
        try:
            out = self.post("/chat/completions", body)
            top = out["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
            listed: dict[str, float] = {}
            for entry in top:
                label, logprob = str(entry["token"]).strip(), float(entry["logprob"])
                listed[label] = max(logprob, listed.get(label, logprob))
            prompt_tokens = int((out.get("usage") or {}).get("prompt_tokens") or 0)
        except (ServerAnswer, KeyError, IndexError, TypeError, ValueError):
            raise RlrecError(
                f"LLM server at {self.url} cannot score a choice (it needs chat logprobs with "
                "top_logprobs)"
            ) from None
        if not set(listed) & set(continuations):
            raise RlrecError(f"LLM server at {self.url} listed none of the choices {continuations}")
        floor = min(listed.values()) - 1.0
        return {
            "scores": [listed.get(c, floor) for c in continuations],
            "prompt_tokens": prompt_tokens,
        }

    def _score(self, messages: list[Message], continuations: list[str]) -> list[float]:
        prompt = plain_prompt(messages)
        return [self._score_one(prompt, text) for text in continuations]

    def _score_one(self, prompt: str, continuation: str) -> float:
        body = {
            "model": self.cfg.model,
            "prompt": prompt + continuation,
            "echo": True,
            "logprobs": 1,
            "max_tokens": 0,
            "temperature": 0.0,
        }
        try:
            out = self.post("/completions", body)
            lp = out["choices"][0]["logprobs"]
            pairs = zip(lp["text_offset"], lp["token_logprobs"], strict=True)
            return float(sum(v for offset, v in pairs if offset >= len(prompt) and v is not None))
        except (ServerAnswer, KeyError, IndexError, TypeError, ValueError):
            raise RlrecError(
                f"LLM server at {self.url} cannot score continuations (it needs /completions "
                "with echo and logprobs); use the llamacpp backend for scoring"
            ) from None

    def count_tokens(self, text: str) -> int:
        """An estimate (about 4 characters per token): the OpenAI API has no tokenizer call."""
        return approx_tokens(text)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST JSON with retries; the parsed JSON answer, or one clear `RlrecError`."""
        url = self.url + path
        headers = {}
        key = os.environ.get(self.cfg.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        tries = self.cfg.max_retries + 1
        last = ""
        for attempt in range(tries):
            if attempt:
                time.sleep(self._delay(attempt - 1))
            self.usage.add(tries=1)
            try:
                with self._slots:
                    answer = self._client.post(url, json=body, headers=headers)
            except self._httpx.TransportError as err:  # timeouts and connection errors
                last = f"{type(err).__name__}: {err}"
                continue
            if answer.status_code in RETRY_STATUS:
                last = f"HTTP {answer.status_code}"
                continue
            if answer.status_code >= 400:
                raise ServerAnswer(
                    f"LLM server at {url} answered HTTP {answer.status_code}: {answer.text[:200]!r}"
                )
            try:
                parsed = answer.json()
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                return parsed
            last = f"HTTP {answer.status_code} with a body that is not a JSON object"
        raise RlrecError(f"LLM server at {url} unreachable after {tries} tries: {last}")

    def _delay(self, retry: int) -> float:
        with self._rng_lock:
            jitter = 0.5 + self._rng.random()
        return min(self.cfg.backoff_max_s, self.cfg.backoff_base_s * 2**retry * jitter)


def plain_prompt(messages: list[Message]) -> str:
    """A template-free rendering of a conversation, ending where the assistant answers."""
    turns = [f"{m['role']}: {m['content']}" for m in messages]
    return "\n\n".join([*turns, "assistant: "])


def _drop_none(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}
