"""`bench_env` smoke test: structure and positive numbers only, never wall-clock speed."""

from __future__ import annotations

import json

from rlrec.bench import write_bench
from rlrec.bench.env import bench_env


def test_bench_env_reports_every_point(tmp_path):
    result = bench_env(n_items=40, n_users=12, batch_sizes=(1, 8), seconds_per_point=0.02, seed=1)
    assert result["benchmark"] == "env"
    assert result["setup"]["n_items"] == 40
    assert result["setup"]["threshold"] > 0
    assert result["machine"]["cpu_count"] >= 1
    assert "numpy" in result["machine"] and "RLREC_THREADS" in result["machine"]
    points = [result["single"], *result["vectorised"]]
    assert [p["batch_size"] for p in result["vectorised"]] == [1, 8]
    for point in points:
        assert point["steps"] > 0 and point["steps_per_s"] > 0 and point["episodes"] > 0
        assert 1.0 <= point["mean_episode_length"] <= result["setup"]["quit"]["max_turns"]
    assert result["speedup"]["batch_size"] == 8
    assert result["speedup"]["vectorised_over_single"] > 0

    out = write_bench(tmp_path / "bench" / "env.json", result)
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    assert [p.name for p in out.parent.iterdir()] == ["env.json"]  # no temporary file left
