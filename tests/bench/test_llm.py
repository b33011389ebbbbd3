import pytest

pytest.importorskip("llama_cpp", reason="needs the llm extra")

from rlrec.bench.llm import bench_llm
from rlrec.errors import RlrecError
from rlrec.interactive.llm import LLMConfig
from rlrec.interactive.llm.llamacpp import bundled_model_path


def test_bench_llm_measures_raw_generation_and_an_agent_step():
    try:
        bundled_model_path()
    except RlrecError as err:
        pytest.skip(str(err))
    steps = iter(range(100))
    result = bench_llm(
        LLMConfig(),
        n_prompts=2,
        max_tokens=8,
        agent_step=lambda: {"tokens": next(steps)},
        n_steps=3,
    )
    raw = result["raw"]
    assert raw["calls"] == 2 and raw["completion_tokens"] > 0 and raw["tokens_per_s"] > 0
    assert raw["latency_s_p95"] >= raw["latency_s_p50"] > 0
    assert result["agent"]["completion_tokens"] == 0 + 1 + 2
    assert "agent_over_raw_tokens_per_s" in result
