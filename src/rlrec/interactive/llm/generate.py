"""Generate LLM-expert demonstrations against a world model (docs/ilrec.md#the-llm-expert; DESIGN
"Demonstrations").

One episode per user of `split` (BiLLP: the train split) in `RecEnv` with BiLLP's LLM-environment
quit rule (`QuitConfig(check_first_step=False)`). Every step goes to the append-only `DemoStore`
as it happens; users already finished in the store are skipped, so a killed run resumes where it
stopped. After each batch of `agent.cfg.batch_users` episodes the agent reflects on them and
commits its memory updates (BiLLP rebuilds its memories per batch of 10 users).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from rlrec.interactive.demos.store import DemoStore, report
from rlrec.interactive.env import QuitConfig, RecEnv
from rlrec.interactive.llm import LLMConfig, make_backend
from rlrec.interactive.llm.agent import AgentConfig, LLMAgent
from rlrec.interactive.world.worldmodel import WorldModel

log = logging.getLogger("rlrec")

__all__ = ["build_agent", "generate_demos", "store_header", "train_agent"]


def build_agent(world: WorldModel, llm: LLMConfig, cfg: AgentConfig, seed: int) -> LLMAgent:
    """The LLM expert over `world`'s catalogue (titles in display form): its backend, the
    sentence embedder of its memories and grounder (hashed n-grams without the `llm` extra)."""
    from rlrec.interactive.text.grounding import display_catalogue, embedder_and_grounder

    embedder, grounder = embedder_and_grounder(display_catalogue(world.items), cfg.grounder)
    rng = np.random.default_rng(seed)
    return LLMAgent(make_backend(llm), world.items, grounder, embedder, cfg, rng)


def store_header(agent: LLMAgent, quit: QuitConfig, split: str) -> dict[str, Any]:
    """The store header: backend, model and the parameters a resumed run must share."""
    return {
        "backend": agent.backend.name,
        "model": agent.backend.model_name,
        "params": {
            "agent": agent.cfg.model_dump(mode="json"),
            "quit": quit.model_dump(mode="json"),
            "split": split,
            "window": quit.window,
        },
    }


def generate_demos(
    world: WorldModel,
    agent: LLMAgent,
    store_path: str | Path,
    users: Sequence[int] | None = None,
    split: str = "train",
    quit: QuitConfig | None = None,
    header: dict[str, Any] | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Run one episode per user row in `users` (default: all rows of `split`); return the
    store's `report` plus the backend's `usage`.

    `progress`: tqdm's `disable` is `not progress` (None: only on a terminal).
    """
    quit = quit or QuitConfig(check_first_step=False)
    env = RecEnv.from_world(world, split, quit)
    rows = range(env.n_users) if users is None else [int(u) for u in users]
    header = header or store_header(agent, quit, split)
    with DemoStore.open(store_path, header) as store:
        done_users = store.completed_users()
        todo = [u for u in rows if u not in done_users]
        if len(todo) < len(rows):
            log.info(
                "demos: %d of %d users already in %s (reused), %d to generate",
                len(rows) - len(todo), len(rows), store_path, len(todo),
            )  # fmt: skip
        batch: list[list[tuple[str, float, bool]]] = []
        disable = None if progress is None else not progress
        for user in tqdm(todo, desc="demos", unit="user", disable=disable):
            batch.append(run_episode(env, agent, store, user))
            if len(batch) == agent.cfg.batch_users:
                _end_batch(agent, batch)
        _end_batch(agent, batch)
        summary = report(store)
    return {**summary, "usage": agent.backend.usage.as_dict()}


def train_agent(
    world: WorldModel,
    agent: LLMAgent,
    users: Sequence[int],
    quit: QuitConfig,
    desc: str = "training episodes",
) -> list[list[tuple[str, float, bool]]]:
    """BiLLP's training phase of an LLM baseline: episodes on the train rows `users`, in
    batches of `batch_users`, each batch followed by reflections and the memory commit; nothing
    is stored. With the rows, quit rule and seed of an uninterrupted `demos generate` the episodes
    are those of the demonstrations, so their answers come from the LLM cache. Returns each
    episode's [(title, reward, done)]."""
    env = RecEnv.from_world(world, "train", quit)
    batch: list[list[tuple[str, float, bool]]] = []
    episodes = []
    for user in tqdm(list(users), desc=f"{agent.cfg.mode}: {desc}", unit="user"):
        batch.append(run_episode(env, agent, None, int(user)))
        episodes.append(batch[-1])
        if len(batch) == agent.cfg.batch_users:
            _end_batch(agent, batch)
    _end_batch(agent, batch)
    return episodes


def run_episode(
    env: RecEnv, agent: LLMAgent, store: DemoStore | None, user: int
) -> list[tuple[str, float, bool]]:
    """One episode of `user`, each step appended to `store` (if any); returns
    [(title, reward, done)]."""
    env.reset(options={"user": user})
    if store is not None:
        store.begin_episode(user)
    history: list[str] = []  # titles recommended so far
    window: list[list[float]] = []  # recent [item, reward]
    episode = []
    done = False
    while not done:
        step = agent.act(history, window)
        _, reward, terminated, truncated, info = env.step(step["item"])
        done = terminated or truncated
        title = step["grounded_title"]
        after = [*history, title]
        critic = agent.observe(history, title, reward, after, done, quit=terminated)
        if store is not None:
            store.add_step(
                {
                    **step,
                    "window": [list(p) for p in window],
                    "reward": reward,
                    "done": done,
                    "reason": info["reason"],
                    "user_id": np.asarray(env.user_ids[user]).item()
                    if env.user_ids is not None
                    else user,
                    **critic,
                }
            )
        episode.append((title, reward, done))
        history = after
        window = [*window, [step["item"], reward]][-env.quit.window :]
    if store is not None:
        store.end_episode()
    return episode


def _end_batch(agent: LLMAgent, batch: list[list[tuple[str, float, bool]]]) -> None:
    """Reflect on each episode of the batch, then commit the memory updates."""
    for episode in batch:
        agent.reflect(episode)
    agent.commit()
    batch.clear()
