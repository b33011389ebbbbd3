"""Replay of recorded LLM responses, for tests: a miss is an error naming the missing key.

The recordings are either the response cache folder a real backend wrote (the default), or a
JSON(L) file of exchanges `{"request": {...}, "response": {...}}` (a `.json` file holds a list of
them). Keys are computed exactly as the recorded backend (`cfg.replay_from`) computed them, so a
cache written by a `llamacpp` or `openai` run replays as is. `record_chat` writes one exchange by
hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rlrec.errors import ConfigError, RlrecError
from rlrec.interactive.llm.backends import (
    Backend,
    LLMConfig,
    Message,
    approx_tokens,
    chat_params,
)
from rlrec.interactive.llm.cache import cache_key


class ReplayMiss(RlrecError):
    """A call whose response was never recorded."""


class ReplayBackend(Backend):
    name = "replay"

    def __init__(self, cfg: LLMConfig, **kwargs: Any):
        super().__init__(cfg, **kwargs)
        self.records = load_records(cfg.replay_file) if cfg.replay_file else None
        self.source = str(cfg.replay_file or self.cache.folder)

    @property
    def model_name(self) -> str:
        if self.cfg.replay_from == "llamacpp":
            from rlrec.interactive.llm.llamacpp import model_name

            return model_name(self.cfg)
        return str(self.cfg.model)

    def request(self, kind: str, messages: list[Message], params: dict[str, Any]) -> dict:
        return {**super().request(kind, messages, params), "backend": self.cfg.replay_from}

    def _cached(self, request: dict[str, Any], call) -> tuple[dict[str, Any], bool]:
        key = cache_key(request)
        hit = self.records.get(key) if self.records is not None else self.cache.get(key)
        if hit is None:
            last = request["messages"][-1]["content"] if request["messages"] else ""
            raise ReplayMiss(
                f"replay: no recorded {request['kind']} response with key {key} "
                f"({request['backend']}/{request['model']}, last message {last[:60]!r}) "
                f"in {self.source}"
            )
        self.usage.add(calls=1, cache_hits=1)
        return hit, True

    def _chat(self, messages: list[Message], params: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("replay answers only from recordings")  # _cached never calls it

    def _score(self, messages: list[Message], continuations: list[str]) -> list[float]:
        raise AssertionError("replay answers only from recordings")

    def count_tokens(self, text: str) -> int:
        return approx_tokens(text)


def load_records(path: str | Path) -> dict[str, dict[str, Any]]:
    """key -> response, from a `.jsonl` file (one exchange a line) or a `.json` list."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"replay file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".jsonl":
            exchanges = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            exchanges = json.loads(text)
        return {cache_key(e["request"]): e["response"] for e in exchanges}
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ConfigError(f"replay file {path} is not a list of request/response: {err}") from None


def record_chat(
    cfg: LLMConfig, messages: list[Message], text: str, **params: Any
) -> dict[str, Any]:
    """Write `text` into the cache as the recorded answer that replay of `cfg` will find."""
    backend = ReplayBackend(cfg)
    request = backend.request("chat", messages, chat_params(cfg, params))
    response = {
        "text": text,
        "prompt_tokens": sum(approx_tokens(m["content"]) for m in messages),
        "completion_tokens": approx_tokens(text),
        "latency_s": 0.0,
    }
    backend.cache.put(cache_key(request), request, response)
    return {"request": request, "response": response}
