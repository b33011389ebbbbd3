"""A small trained run (synthetic world, IL-Rec trained briefly), made once per test process and
shared by the serving and distributed tests."""

from __future__ import annotations

import shutil
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
        from rlrec.interactive.study import demos_path, train_one

        root = tmp_path_factory.mktemp("runs")
        cfg = load_config(ExperimentConfig, None, [*COMMON, f"runs_dir={root}"])
        run, ds, world = world_stages(cfg)
        written = write_expert_demos(run.dir)
        wanted = demos_path(cfg, run)  # where the study reads them, whatever the agent's mode
        if Path(written) != wanted:
            shutil.copyfile(written, wanted)
        train_one(cfg, run, ds, world, "il-rec")
        _RUNS["sim"] = run.dir
    return _RUNS["sim"]


def fixed_policy(n_items: int = 50, n_users: int = 20):
    """A served policy that needs no training: item i scores i for everyone."""
    import torch

    from rlrec.serve.model import LoadedPolicy

    return LoadedPolicy(
        scores=lambda s: torch.arange(n_items, dtype=torch.float32).repeat(len(s), 1),
        item_ids=list(range(n_items)),
        titles=[f"item {i}" for i in range(n_items)],
        user_ids=list(range(n_users)),
        window=4,
        info={"method": "fixed"},
    )
