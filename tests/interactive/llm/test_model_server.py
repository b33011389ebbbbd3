"""The real server path: llama.cpp's OpenAI-compatible server running SmolLM2, via `openai`."""

import socket
import subprocess
import sys
import time

import httpx
import pytest

pytest.importorskip("llama_cpp.server", reason="needs llama-cpp-python[server] (the llm extra)")

from rlrec.errors import RlrecError
from rlrec.interactive.llm import LLMConfig, make_backend
from rlrec.interactive.llm.llamacpp import bundled_model_path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    try:
        model = bundled_model_path()
    except RlrecError as err:
        pytest.skip(str(err))
    port = _free_port()
    log = (tmp_path_factory.mktemp("server") / "server.log").open("w")
    cmd = [sys.executable, "-m", "rlrec.interactive.llm.model_server", "--model", str(model),
           "--host", "127.0.0.1", "--port", str(port), "--n_threads", "1", "--n_ctx", "1024",
           "--model_alias", "smollm2"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}")
            try:
                if httpx.get(f"{base}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("llama_cpp.server did not start within 60 s")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_openai_backend_against_the_real_server(server, tmp_path):
    cfg = LLMConfig(backend="openai", base_url=server, model="smollm2", max_tokens=16,
                    cache_dir=tmp_path, max_concurrency=2)  # fmt: skip
    backend = make_backend(cfg)
    messages = [[{"role": "user", "content": f"Name a {g} movie."}] for g in ("comedy", "horror")]
    answers = backend.chat_many(messages)
    assert all(a.text.strip() and a.completion_tokens > 0 and not a.cached for a in answers)
    again = backend.chat(messages[0])
    assert again.cached and again.text == answers[0].text
    usage = backend.usage.as_dict()
    assert usage["calls"] == 3 and usage["cache_hits"] == 1


def test_demonstrations_through_the_real_server(server, tmp_path):
    from rlrec.interactive.env import QuitConfig
    from rlrec.interactive.llm.agent import AgentConfig, LLMAgent
    from rlrec.interactive.llm.generate import generate_demos
    from rlrec.interactive.llm.memory import NgramEmbedder
    from rlrec.interactive.text.grounding import NgramGrounder
    from tests.interactive.llm.test_agent import TITLES, tiny_world

    tiny = tiny_world()  # the agent tests' 3-user, 20-title world
    cfg = LLMConfig(backend="openai", base_url=server, model="smollm2", cache_dir=tmp_path)
    agent = LLMAgent(
        make_backend(cfg),
        tiny.items,
        NgramGrounder.from_catalogue(tiny.items),
        NgramEmbedder(),
        AgentConfig(mode="react", max_tokens=24),
    )
    quit = QuitConfig(check_first_step=False, max_turns=2)
    report = generate_demos(tiny, agent, tmp_path / "demos.jsonl", users=[0, 1], quit=quit)
    assert report["episodes"] == 2 and report["transitions"] >= 2
    assert report["usage"]["calls"] >= 2 and report["usage"]["completion_tokens"] > 0
    assert len(TITLES) == tiny.n_items
