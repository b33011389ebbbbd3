"""Demonstrations over workers: the Ray store equals the local one, episode for episode."""

from __future__ import annotations

import shutil

import numpy as np

from rlrec.distributed.demos import generate_demos_distributed, shard_episodes
from rlrec.interactive.demos.store import DemoStore
from rlrec.interactive.env import QuitConfig
from rlrec.interactive.llm.agent import AgentConfig, LLMAgent
from rlrec.interactive.llm.backends import LLMConfig
from rlrec.interactive.text.grounding import display_catalogue, embedder_and_grounder
from rlrec.interactive.world.worldmodel import WorldModel
from tests.scripted_llm import ScriptedServer

QUIT = QuitConfig(check_first_step=False, max_turns=4)
AGENT = AgentConfig(mode="actonly", grounder="ngram")
USERS = [5, 3, 11, 0, 7, 2, 9, 14]


def record(world: WorldModel, cache, path, users=USERS, quit=QUIT) -> LLMConfig:
    """Episodes of the scripted expert into `path`, its answers into `cache`; returns the
    config that replays them."""
    catalogue = display_catalogue(world.items)
    embedder, grounder = embedder_and_grounder(catalogue, "ngram")
    backend = ScriptedServer(
        LLMConfig(cache_dir=cache, model="scripted"), catalogue["title"].tolist()
    )
    agent = LLMAgent(backend, world.items, grounder, embedder, AGENT, np.random.default_rng(0))
    shard_episodes(world, agent, users, path, quit, seed=0)
    return LLMConfig(backend="replay", replay_from="openai", model="scripted", cache_dir=cache)


def episodes(path) -> set[tuple]:
    keep = ("item", "title", "prompt", "response", "reward", "done", "reason", "window")
    return {
        (e.user, tuple(repr([s[k] for k in keep]) for s in e.steps))
        for e in DemoStore.read(path).episodes()
    }


def test_ray_workers_make_the_store_the_local_run_makes(run_dir, ray_cluster, tmp_path):
    world = WorldModel.load(run_dir / "worldmodel")
    replay = record(world, tmp_path / "cache", tmp_path / "recorded.jsonl")
    common = dict(llm=replay, agent=AGENT, seed=0, users=USERS, quit=QUIT)
    local = generate_demos_distributed(
        run_dir / "worldmodel", out=tmp_path / "local.jsonl", workers=1, **common
    )
    remote = generate_demos_distributed(
        run_dir / "worldmodel", out=tmp_path / "ray.jsonl", workers=2, use_ray=True, **common
    )
    assert local["episodes"] == remote["episodes"] == len(USERS)
    assert remote["shard_users"] == [4, 4] and remote["usage"]["cache_hits"] > 0
    reference = episodes(tmp_path / "recorded.jsonl")
    assert episodes(tmp_path / "local.jsonl") == episodes(tmp_path / "ray.jsonl") == reference
    assert len({steps for _, steps in reference}) > 1  # users got different episodes
    assert [e.user for e in DemoStore.read(tmp_path / "ray.jsonl").episodes()] == USERS
    assert not (tmp_path / "ray.jsonl.shards").exists()


def test_a_rerun_adds_only_the_new_users(run_dir, tmp_path):
    world = WorldModel.load(run_dir / "worldmodel")
    replay = record(world, tmp_path / "cache", tmp_path / "recorded.jsonl")
    common = dict(llm=replay, agent=AGENT, seed=0, quit=QUIT, out=tmp_path / "d.jsonl")
    first = generate_demos_distributed(run_dir / "worldmodel", users=USERS[:5], workers=2, **common)
    again = generate_demos_distributed(run_dir / "worldmodel", users=USERS, workers=3, **common)
    assert first["episodes"] == 5 and again["episodes"] == len(USERS)
    assert sum(again["shard_users"]) == 3  # the five finished users were not asked again
    assert episodes(tmp_path / "d.jsonl") == episodes(tmp_path / "recorded.jsonl")


def test_the_command_runs_the_shards_here_without_ray(run_dir, tmp_path):
    """`rlrec demos generate --no-ray` path on a copy of the run, replaying recorded answers."""
    from rlrec.cli.demos import demos_generate_ray
    from rlrec.config import load_config
    from rlrec.experiment import ExperimentConfig

    shutil.copytree(run_dir, tmp_path / "runs" / "sim", ignore=shutil.ignore_patterns("sweeps"))
    cfg = load_config(ExperimentConfig, run_dir / "config.yaml", [])
    world = WorldModel.load(run_dir / "worldmodel")
    rows = np.random.default_rng(cfg.seed).permutation(len(world.users["train"]))[:4].tolist()
    quit = QuitConfig(**{**cfg.evaluation.quit.model_dump(), "check_first_step": False})
    record(world, tmp_path / "cache", tmp_path / "recorded.jsonl", users=rows, quit=quit)
    overrides = [f"runs_dir={tmp_path / 'runs'}", "llm.backend=replay", "llm.replay_from=openai",
                 "llm.model=scripted", f"llm.cache_dir={tmp_path / 'cache'}",
                 "agent.mode=actonly", "agent.grounder=ngram"]  # fmt: skip
    result = demos_generate_ray(
        config=run_dir / "config.yaml", users=4, workers=2, ray=False, overrides=overrides
    )
    assert result["path"] == str(tmp_path / "runs" / "sim" / "demos" / "actonly-choice.jsonl")
    assert result["episodes"] == 4 and result["shard_users"] == [2, 2]
    assert episodes(result["path"]) == episodes(tmp_path / "recorded.jsonl")
