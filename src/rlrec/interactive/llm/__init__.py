"""LLM access for the IL-Rec expert: backends (llama.cpp, OpenAI-compatible HTTP, replay) behind
one cached and counted protocol. `make_backend(LLMConfig(...))` builds one."""

from rlrec.interactive.llm.backends import Backend, Completion, LLMConfig, Message, make_backend
from rlrec.interactive.llm.cache import ResponseCache, Usage, cache_key

__all__ = [
    "Backend",
    "Completion",
    "LLMConfig",
    "Message",
    "ResponseCache",
    "Usage",
    "cache_key",
    "make_backend",
]
