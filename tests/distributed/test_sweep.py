"""Sweeps: a 2-seed x 2-setting table through Ray equals the local one; errors come first."""

from __future__ import annotations

import pytest

from rlrec.config import load_config
from rlrec.distributed.sweep import (
    SWEEP_METHODS,
    SweepMethod,
    register_sweep_method,
    run_sweep,
    settings_of,
)
from rlrec.errors import ConfigError, DataError
from rlrec.experiment import ExperimentConfig

GRID = {"ilrec.lr": [0.001, 0.003]}


def config(run_dir):
    return load_config(ExperimentConfig, run_dir / "config.yaml", ["ilrec.train_episodes=64"])


def test_a_sweep_through_ray_makes_the_local_table(run_dir, ray_cluster):
    cfg = config(run_dir)
    rows = run_sweep(cfg, run_dir, ["il-rec"], [0, 1], GRID, name="ray", use_ray=True)
    assert [r["setting"] for r in rows] == ["ilrec.lr=0.001", "ilrec.lr=0.003"]
    assert all(len(r["per_seed"]["R_traj"]) == 2 for r in rows)
    table = (run_dir / "sweeps" / "ray" / "results.md").read_text()
    assert "| il-rec | ilrec.lr=0.003 |" in table and "Ray tasks" in table
    assert (run_dir / "sweeps" / "ray" / "results.csv").read_text().count("\n") == 3
    local = run_sweep(cfg, run_dir, ["il-rec"], [0, 1], GRID, name="local")
    assert [r["per_seed"] for r in local] == [r["per_seed"] for r in rows]
    assert rows[0]["per_seed"] != rows[1]["per_seed"]  # the setting mattered


def test_baselines_sweep_locally_and_reruns_reuse_the_cells(run_dir):
    cfg = config(run_dir)
    first = run_sweep(cfg, run_dir, ["bc"], [0], {"study.offline_updates": [10]}, name="bc")
    cell = run_dir / "sweeps" / "bc" / "study.offline_updates=10" / "bc" / "seed0"
    assert (cell / "train" / "bc" / "seed0" / "policy.pt").is_file()
    stamp = (cell / "train" / "bc" / "seed0" / "policy.pt").stat().st_mtime_ns
    again = run_sweep(cfg, run_dir, ["bc"], [0], {"study.offline_updates": [10]}, name="bc")
    assert again[0]["per_seed"] == first[0]["per_seed"]
    assert (cell / "train" / "bc" / "seed0" / "policy.pt").stat().st_mtime_ns == stamp


def test_sweep_errors_come_before_any_training(run_dir):
    cfg = config(run_dir)
    with pytest.raises(ConfigError, match="unknown method 'psychic'"):
        run_sweep(cfg, run_dir, ["psychic"], [0], GRID)
    with pytest.raises(ConfigError, match="register_sweep_method"):
        run_sweep(cfg, run_dir, ["marco"], [0], GRID)
    with pytest.raises(ConfigError, match=r"'data\.kcore' cannot be swept"):
        run_sweep(cfg, run_dir, ["il-rec"], [0], {"data.kcore": [5]})
    with pytest.raises(ConfigError, match=r"ilrec\.lr"):
        run_sweep(cfg, run_dir, ["il-rec"], [0], {"ilrec.lr": [-1.0]}, name="bad")
    assert not (run_dir / "sweeps" / "bad").exists()
    assert settings_of({"ilrec.lr": [0.1], "ilrec.dim": [8, 16]}) == [
        ["ilrec.lr=0.1", "ilrec.dim=8"],
        ["ilrec.lr=0.1", "ilrec.dim=16"],
    ]


def test_a_user_error_in_a_ray_task_is_the_same_error(run_dir, ray_cluster, tmp_path):
    cfg = config(run_dir).model_copy(deep=True)
    cfg.study.demos = tmp_path / "missing.jsonl"
    with pytest.raises(DataError, match="no demonstrations at"):
        run_sweep(cfg, run_dir, ["il-rec"], [0], {}, name="missing", use_ray=True)


def scripted_cell(cfg_json, run_dir, method, seed, cell_dir):
    """A registered family's cell (what MARCO's will be): metrics from the setting and seed."""
    return {"MAE": [cfg_json["study"]["offline_updates"] + seed], "RMSE": [1.0]}


def test_the_marco_hook_runs_a_registered_family(run_dir):
    family = SweepMethod(cell=scripted_cell, columns=("MAE", "RMSE"), sweepable=("study.",))
    register_sweep_method("marco-scripted", family)
    try:
        grid = {"study.offline_updates": [10, 20]}
        rows = run_sweep(config(run_dir), run_dir, ["marco-scripted"], [0, 1], grid, name="hook")
    finally:
        SWEEP_METHODS.pop("marco-scripted")
    assert [r["MAE"]["mean"] for r in rows] == [10.5, 20.5]
    assert "| method | setting | MAE | RMSE |" in (run_dir / "sweeps/hook/results.md").read_text()
