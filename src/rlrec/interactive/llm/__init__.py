"""LLM access for the IL-Rec expert: backends (llama.cpp, OpenAI-compatible HTTP, replay) behind
one cached and counted protocol. `make_backend(LLMConfig(...))` builds one."""

from rlrec.errors import ConfigError
from rlrec.interactive.llm.backends import Backend, Completion, LLMConfig, Message
from rlrec.interactive.llm.cache import ResponseCache, Usage, cache_key


def make_backend(cfg: LLMConfig) -> Backend:
    """Build the backend `cfg.backend` names."""
    if cfg.backend == "llamacpp":
        from rlrec.interactive.llm.llamacpp import LlamaCppBackend

        return LlamaCppBackend(cfg)
    if cfg.backend == "openai":
        from rlrec.interactive.llm.openai_compat import OpenAIBackend

        return OpenAIBackend(cfg)
    if cfg.backend == "replay":
        from rlrec.interactive.llm.replay import ReplayBackend

        return ReplayBackend(cfg)
    raise ConfigError(f"unknown LLM backend {cfg.backend!r}; known: llamacpp, openai, replay")


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
