"""`rlrec bench serve` end to end on loopback: a small load test beside a scripted LLM expert."""

from __future__ import annotations

from rlrec.interactive.world.worldmodel import WorldModel
from rlrec.serve.bench import bench_serve
from tests.interactive.llm.test_agent import make_agent


def test_bench_serve_reports_latency_errors_and_the_expert_ratio(run_dir, tmp_path):
    agent = make_agent(WorldModel.load(run_dir / "worldmodel"), tmp_path, mode="billp")
    result = bench_serve(
        run_dir, "il-rec", 0, requests=300, concurrency=8, llm_steps=3, agent=agent
    )
    load = result["load"]
    assert load["requests"] == 300 and load["errors"] == 0, load["errors_by_kind"]
    assert 0 < load["latency_ms"]["p50"] <= load["latency_ms"]["p95"] <= load["latency_ms"]["p99"]
    assert load["throughput_rps"] > 0 and result["batching"]["passes"] >= 1
    assert result["served"]["method"] == "il-rec"
    expert = result["llm_expert"]
    assert expert["steps"] == 3 and expert["tokens_per_step"] > 0 and expert["mode"] == "billp"
    assert result["ratio"]["llm_step_over_policy_p50"] > 0
