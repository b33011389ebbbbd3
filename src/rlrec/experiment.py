"""The experiment config (one YAML file under `configs/`) and the stages it runs.

An experiment is a run directory `<runs_dir>/<name>` plus the stage configs. Stages are added
here as the pipelines grow (world model, demonstrations, IRL, policy, MARCO...); each is a
function from its inputs to artefacts in the run directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field

from rlrec.atomic import write_json, write_text
from rlrec.config import Config
from rlrec.data import DataConfig, Dataset, format_summary, load_dataset, summarize
from rlrec.data.registry import cache_folder
from rlrec.runs import Run, create_run
from rlrec.runtime import apply_threads, seed_everything


class ExperimentConfig(Config):
    """A whole experiment: where its run goes, its seed, and the config of each stage."""

    name: str = Field("default", description="run name; the run directory is <runs_dir>/<name>")
    seed: int = Field(0, description="seed of every random choice in the run")
    runs_dir: Path = Field(Path("runs"), description="parent folder of run directories")
    data: DataConfig = Field(default_factory=DataConfig, description="which dataset and how")


def start_run(cfg: ExperimentConfig) -> Run:
    """Seed, set threads, and open the run directory with its resolved config and manifest."""
    seed_everything(cfg.seed)
    apply_threads()
    return create_run(cfg.runs_dir, cfg.name, cfg, seed=cfg.seed)


def data_stage(cfg: DataConfig, run: Run) -> tuple[Dataset, dict[str, Any]]:
    """Load the dataset (through the cache) and write its summary into `<run>/data/`."""
    ds = load_dataset(cfg)
    stage = run.stage("data", params=cfg, inputs={"dataset": cache_folder(cfg) / "manifest.json"})
    if stage.cached:
        return ds, json.loads(stage.path("summary.json").read_text(encoding="utf-8"))
    summary = summarize(ds)
    outputs = [
        write_json(stage.path("summary.json"), summary),
        write_text(stage.path("summary.txt"), format_summary(summary) + "\n"),
    ]
    stage.complete(outputs, summary={k: summary[k] for k in ("users", "items", "interactions")})
    return ds, summary
