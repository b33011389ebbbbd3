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


def test_bench_serve_loads_an_exported_file_from_several_client_processes(run_dir, tmp_path):
    """`--policy FILE --client-procs 2`: the server reads the exported file, two client
    processes share the requests, and the report says how busy the clients were."""
    from rlrec.export import artefact_from_run, write_artefact

    exported = write_artefact(artefact_from_run(run_dir, "il-rec", 0), tmp_path / "p.zip")
    result = bench_serve(
        run_dir, "il-rec", 0, requests=240, concurrency=8, llm_steps=0, warmup=20,
        policy_file=exported, client_procs=2,
    )  # fmt: skip
    load = result["load"]
    assert load["requests"] == 240 and load["errors"] == 0, load["errors_by_kind"]
    assert load["client_procs"] == 2 and 0 < load["client_cpu_share"] <= 1.5
    assert result["batching"]["passes"] >= 1 and "llm_expert" not in result
