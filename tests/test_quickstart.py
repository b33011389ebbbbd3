"""`rlrec quickstart` end to end on synthetic data with a scripted LLM: every stage, the report,
an interrupted run that picks up at the last finished stage, and a rerun served from the caches.
(`make demo` runs the same code on MovieLens-100K with SmolLM2.)"""

from __future__ import annotations

import json
import logging
import re

import numpy as np
import pytest

import rlrec.crossdomain.experiment as marco_experiment
import rlrec.interactive.llm.generate as generate
from rlrec.config import load_config
from rlrec.experiment import ExperimentConfig
from rlrec.interactive.llm.agent import LLMAgent
from rlrec.interactive.llm.backends import LLMConfig
from rlrec.interactive.text.grounding import display_catalogue, embedder_and_grounder
from rlrec.quickstart import run_quickstart
from tests.scripted_llm import ScriptedServer

CONFIG = """
name: qs
seed: 0
data:
  name: synthetic-interactive
  synthetic: {n_users: 80, n_items: 60}
worldmodel: {model: mf, epochs: 3, n_ensemble: 2}
evaluation: {n_users: 10, seeds: [0, 1]}
agent: {mode: billp, grounder: ngram}
demo_users: 6
llm_train_users: 6
ilrec: {train_episodes: 128, episodes_per_iteration: 32}
study:
  seeds: [0, 1]
  methods: [il-rec, bc, a2c, dorl]
  ablations: []
  heuristics: [random, greedy]
  offline_updates: 20
  checkpoint_every: 64
  llm_expert: live
  llm_users: 3
marco:
  data:
    name: synthetic-amazon
    synthetic: {n_users: 160, n_items: 50, n_domains: 3, ratings_per_user: 12, overlap: 0.7}
  mf: {epochs: 3}
  marco: {warmup_epochs: 1, epochs: 2, mappo: {ppo_epochs: 1}}
  emcdr: {steps: 20}
  evaluation: {n_negatives: 20}
  study:
    targets: [CDs_and_Vinyl]
    betas: [0.2]
    seeds: [1]
    entropy_grid: [0.001]
    methods: [marco, tgt, emcdr, uniform]
"""


@pytest.fixture
def scripted_llm(tmp_path, monkeypatch):
    """Every agent the quickstart builds answers through `ScriptedServer`, cached in tmp_path:
    its counted calls tell a rerun served from the cache from one that asked again."""
    servers = []

    def build_agent(world, llm, cfg, seed):
        catalogue = display_catalogue(world.items)
        embedder, grounder = embedder_and_grounder(catalogue, cfg.grounder)
        titles = catalogue["title"].tolist()
        server = ScriptedServer(LLMConfig(cache_dir=tmp_path / "llm", model="scripted"), titles)
        servers.append(server)
        return LLMAgent(server, world.items, grounder, embedder, cfg, np.random.default_rng(seed))

    monkeypatch.setattr(generate, "build_agent", build_agent)
    return servers


def test_quickstart_runs_every_stage_resumes_and_reuses_its_caches(
    tmp_path, scripted_llm, monkeypatch, caplog
):
    (tmp_path / "qs.yaml").write_text(CONFIG)
    cfg = load_config(ExperimentConfig, tmp_path / "qs.yaml", [f"runs_dir={tmp_path}"])
    run_dir = tmp_path / "qs"
    real_marco = marco_experiment.run_study

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C during MARCO

    monkeypatch.setattr(marco_experiment, "run_study", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_quickstart(cfg, echo=lambda text: None)
    assert not (run_dir / "report.md").exists()
    demos_agent, expert = scripted_llm
    assert demos_agent.usage.calls > 0
    # the expert replays the demo users before its test: those answers come from the cache
    assert expert.usage.cache_hits >= demos_agent.usage.calls, (expert.usage, demos_agent.usage)

    monkeypatch.setattr(marco_experiment, "run_study", real_marco)
    stages: list[str] = []
    with caplog.at_level(logging.INFO, logger="rlrec"):
        report = run_quickstart(cfg, echo=stages.append)
    assert report == run_dir / "report.md"
    # the finished stages were reused: no world model, demonstration or learner was redone
    hits = caplog.text.count("cache hit")
    assert hits >= 1 + 4 * 2  # the world model, every learner x seed
    assert not re.search(r"stage (worldmodel|train/\S+): done", caplog.text)
    assert "demos: 6 of 6 users already in" in caplog.text
    assert sum(s.usage.cache_hits for s in scripted_llm) > 0
    assert [s.split()[0] for s in stages[:5]] == [f"[{i}/5]" for i in range(1, 6)]

    results = json.loads((run_dir / "results.json").read_text())
    text = report.read_text()
    for method in ("il-rec", "bc", "a2c", "dorl", "random", "greedy", "LLM expert"):
        assert method in text
    assert "after 6 training episodes (train users, the demo users first)" in text
    assert "**Reading the table** (R_traj): IL-Rec" in text
    assert ": marco |" in text and ": uniform |" in text and "| mae | rmse |" in text
    assert {"learning_curves", "episode_lengths"} <= set(results["figures"])
    for figure in results["figures"].values():
        assert (run_dir / figure).stat().st_size > 1000 and f"({figure})" in text

    caplog.clear()
    calls = sum(s.usage.calls - s.usage.cache_hits for s in scripted_llm)
    with caplog.at_level(logging.INFO, logger="rlrec"):
        run_quickstart(cfg, echo=lambda text: None)
    assert sum(s.usage.calls - s.usage.cache_hits for s in scripted_llm) == calls
    again = json.loads((run_dir / "results.json").read_text())
    del again["latency"], results["latency"]  # measured afresh on every run
    assert again == results
