"""A small trained run (synthetic world, IL-Rec trained briefly), made once per test process and
shared by the serving and distributed tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cli_ilrec import COMMON, write_expert_demos

_RUNS: dict[str, Path] = {}


def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """<tmp>/sim: world model, scripted demonstrations and IL-Rec seed 0 (the `COMMON`
    overrides of the CLI tests)."""
    if "sim" not in _RUNS:
        from rlrec.config import load_config
        from rlrec.experiment import ExperimentConfig, world_stages
        from rlrec.interactive.study import train_one

        root = tmp_path_factory.mktemp("runs")
        cfg = load_config(ExperimentConfig, None, [*COMMON, f"runs_dir={root}"])
        run, ds, world = world_stages(cfg)
        write_expert_demos(run.dir)
        train_one(cfg, run, ds, world, "il-rec")
        _RUNS["sim"] = run.dir
    return _RUNS["sim"]
