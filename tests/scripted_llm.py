"""A deterministic stand-in for an OpenAI-compatible server, for recording answers that the
`replay` backend then serves."""

from __future__ import annotations

import hashlib
from typing import Any

from rlrec.interactive.llm.backends import Backend, LLMConfig, Message, approx_tokens


class ScriptedServer(Backend):
    """Stands in for an OpenAI-compatible server while recording: an answer is a function of
    the prompt alone, so a replay of the recording answers every call made again."""

    name = "openai"

    def __init__(self, cfg: LLMConfig, titles: list[str]) -> None:
        super().__init__(cfg)
        self.titles = titles

    @property
    def model_name(self) -> str:
        return "scripted"

    def _chat(self, messages: list[Message], params: dict[str, Any]) -> dict[str, Any]:
        h = int(hashlib.sha256(messages[-1]["content"].encode()).hexdigest()[:8], 16)
        text = f"recommend[{self.titles[h % len(self.titles)]}]"
        return {"text": text, "prompt_tokens": 10, "completion_tokens": approx_tokens(text)}

    def _score(self, messages: list[Message], continuations: list[str]) -> list[float]:
        return [-float(len(c)) for c in continuations]

    def count_tokens(self, text: str) -> int:
        return approx_tokens(text)
