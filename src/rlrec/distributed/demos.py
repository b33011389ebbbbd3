"""LLM-expert demonstrations spread over workers, merged into one store (`rlrec demos generate
--ray`; DESIGN "Scale-out").

The users are dealt round-robin into `workers` shards. Each shard is one task: it loads the world
model, builds its own LLM expert (its own llama.cpp instance, or a client of a shared
OpenAI-compatible server when `llm.backend=openai`), and writes its episodes into a shard store
`<out>.shards/shard-<k>.jsonl` (resumable like any `DemoStore`). When every shard is done, their
episodes are appended to `out` in the order of `users` and the shard files are removed.

Reproducibility: before each episode the expert's generator is reseeded from (seed, user), so an
episode depends on its user and not on which shard ran it or what ran before. For the
memory-less modes (`actonly`, `react`) the store is therefore the same for any number of
workers, with or without Ray. The memory modes (`billp`, `reflexion`) learn across episodes:
each shard's expert keeps its own memories (like independent experts), so their episodes depend
on the sharding. A resumed run skips users already in `out` and those finished in a shard store.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from rlrec.distributed import map_tasks
from rlrec.interactive.demos.store import DemoStore, Episode, report
from rlrec.interactive.env import QuitConfig, RecEnv
from rlrec.interactive.llm.agent import AgentConfig, LLMAgent
from rlrec.interactive.llm.backends import LLMConfig
from rlrec.interactive.llm.generate import run_episode, store_header
from rlrec.interactive.world.worldmodel import WorldModel

__all__ = ["generate_demos_distributed", "generate_shard", "merge_shards", "shard_episodes"]

STEP_FIELDS_SET_BY_STORE = ("kind", "user", "episode", "step")


def generate_demos_distributed(
    world_dir: str | Path,
    llm: LLMConfig,
    agent: AgentConfig,
    seed: int,
    users: Sequence[int],
    out: str | Path,
    quit: QuitConfig | None = None,
    workers: int = 2,
    use_ray: bool = False,
    address: str | None = None,
    split: str = "train",
) -> dict[str, Any]:
    """One episode per user row of `users` (of `split`), over `workers` shards (Ray tasks when
    `use_ray`), merged into the store `out`; returns the store's `report` plus the summed
    backend `usage` and the shard layout."""
    out = Path(out)
    quit = quit or QuitConfig(check_first_step=False)
    users = [int(u) for u in users]
    done = DemoStore.read(out).completed_users() if out.is_file() else set()
    folder = out.with_name(out.name + ".shards")
    shards = [users[k::workers] for k in range(workers)]
    tasks = [
        (str(world_dir), llm, agent, seed, [u for u in shard if u not in done],
         str(folder / f"shard-{k}.jsonl"), quit, split)
        for k, shard in enumerate(shards)
    ]  # fmt: skip
    results = map_tasks(generate_shard, tasks, use_ray=use_ray, address=address, num_cpus=workers)
    merged = merge_shards([Path(r["path"]) for r in results], out, results[0]["header"], users)
    shutil.rmtree(folder, ignore_errors=True)
    usage: dict[str, float] = {}
    for r in results:
        for key, value in r["usage"].items():
            usage[key] = usage.get(key, 0) + value
    return {
        **merged,
        "usage": usage,
        "workers": workers,
        "ray": use_ray,
        "shard_users": [len(t[4]) for t in tasks],
    }


def generate_shard(
    world_dir: str,
    llm: LLMConfig,
    agent_cfg: AgentConfig,
    seed: int,
    users: list[int],
    path: str,
    quit: QuitConfig,
    split: str = "train",
) -> dict[str, Any]:
    """One task: the world model, a fresh expert, and `shard_episodes` into the store `path`."""
    from rlrec.interactive.llm.generate import build_agent
    from rlrec.runtime import apply_threads

    apply_threads()
    world = WorldModel.load(world_dir)
    agent = build_agent(world, llm, agent_cfg, seed)
    header = shard_header(agent, quit, split)
    shard_episodes(world, agent, users, path, quit, seed, split, header)
    return {"path": path, "header": header, "usage": agent.backend.usage.as_dict()}


def shard_header(agent: LLMAgent, quit: QuitConfig, split: str) -> dict[str, Any]:
    """`store_header`, marking the per-user seeding (a resumed plain run must not mix in)."""
    header = store_header(agent, quit, split)
    header["params"]["rng"] = "per-user"
    return header


def shard_episodes(
    world: WorldModel,
    agent: LLMAgent,
    users: Sequence[int],
    path: str | Path,
    quit: QuitConfig,
    seed: int,
    split: str = "train",
    header: dict[str, Any] | None = None,
    progress: bool | None = None,
) -> None:
    """One episode per user into the store `path` (skipping users it already holds), the
    expert's generator reseeded from (seed, user) first; reflections and memory commits after
    every `agent.cfg.batch_users` episodes, as in `generate_demos`."""
    env = RecEnv.from_world(world, split, quit)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with DemoStore.open(path, header or shard_header(agent, quit, split)) as store:
        todo = [u for u in users if u not in store.completed_users()]
        batch: list[list[tuple[str, float, bool]]] = []
        disable = None if progress is None else not progress
        for user in tqdm(todo, desc="demos shard", unit="user", disable=disable):
            agent.rng = np.random.default_rng([seed, user])
            batch.append(run_episode(env, agent, store, user))
            if len(batch) == agent.cfg.batch_users:
                _reflect_and_commit(agent, batch)
        _reflect_and_commit(agent, batch)


def _reflect_and_commit(agent: LLMAgent, batch: list[list[tuple[str, float, bool]]]) -> None:
    for episode in batch:
        agent.reflect(episode)
    agent.commit()
    batch.clear()


def merge_shards(
    shards: Sequence[Path], out: Path, header: dict[str, Any], users: Sequence[int]
) -> dict[str, Any]:
    """Append the shards' episodes to `out` in the order of `users` (each user once; users
    already in `out` are skipped); returns `report(out)`."""
    found: dict[Any, Episode] = {}
    for shard in shards:
        if shard.is_file():
            for episode in DemoStore.read(shard).episodes():
                found.setdefault(episode.user, episode)
    out.parent.mkdir(parents=True, exist_ok=True)
    with DemoStore.open(out, header) as store:
        done = store.completed_users()
        for user in users:
            if user in done or user not in found:
                continue
            store.begin_episode(user)
            for step in found[user].steps:
                store.add_step({k: v for k, v in step.items() if k not in STEP_FIELDS_SET_BY_STORE})
            store.end_episode()
            done.add(user)
        return report(store)
