"""A finished training stage whose policy.pt was corrupted afterwards is not a cache hit: the
next run trains it again and the service loads the repaired file (issue 19, probe 6)."""

from __future__ import annotations

import logging
import shutil

from rlrec.config import load_config
from rlrec.data import load_dataset
from rlrec.experiment import ExperimentConfig
from rlrec.interactive.study import train_one
from rlrec.interactive.world.worldmodel import WorldModel
from rlrec.runs import Run
from rlrec.serve.model import LoadedPolicy


def test_a_corrupted_policy_is_trained_again_not_trusted(run_dir, tmp_path, caplog):
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    cfg = load_config(ExperimentConfig, copy / "config.yaml", [f"runs_dir={tmp_path}"])
    policy = next((copy / "train").rglob("policy.pt"))
    good = policy.read_bytes()
    policy.write_bytes(good[: len(good) // 2])  # a half-written file, as a crash might leave
    caplog.set_level(logging.INFO, logger="rlrec")
    run, world = Run(copy), WorldModel.load(copy / "worldmodel")
    train_one(cfg, run, load_dataset(cfg.data), world, "il-rec")
    assert "missing or changed since it was written" in caplog.text
    assert "cache hit (same parameters" not in caplog.text.split("missing or changed")[1]
    assert len(policy.read_bytes()) == len(good)
    LoadedPolicy.from_run(copy, "il-rec", cfg.seed)  # loads: the file was repaired
