"""Fixed datasets of transitions for learning, in the world model's rows and columns.

- `logged_transitions`: the interaction logs of the train-split users, in time order, as the
  sessions of a logging policy (what BiLLP / DORL's offline baselines learn from). Each user's
  history is cut into episodes of at most `max_turns` steps; rewards are the world model's train
  rewards of the logged items, so logged and simulated states speak the same scale.
- `scripted_demos`: the scripted surrogate expert (docs/ilrec.md#scripted-expert), for worlds
without
  an LLM (tests, benchmarks): the best item by the true train reward plus Gaussian noise, never
  an item of its window.
- `demo_transitions`: a demonstration store (LLM expert or imported BiLLP trajectories) as
  transitions, with the release's conventions (docs/ilrec.md#demonstrations): the quit step is kept,
  rewards are replaced by the train-matrix world-model reward, and the state windows are rebuilt
  from those rewards. Demonstrations written by `rlrec demos generate` name train rows; imported
  BiLLP trajectories name BiLLP user ids, which are mapped to train rows: a user of the train
  split keeps its row, any other user (BiLLP's train users are mostly absent from the histories
  shipped with BiLLP, and test users must not leak) goes to the train user whose reward row best
  fits the rewards the demonstration observed (least squares over its steps).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rlrec.errors import DataError
from rlrec.interactive.demos.store import DemoStore, transitions
from rlrec.interactive.experience.transitions import Transitions, windows_from_episodes
from rlrec.interactive.world.worldmodel import WorldModel


def logged_transitions(
    world: WorldModel, interactions: pd.DataFrame, window: int = 4, max_turns: int = 100
) -> Transitions:
    """The train users' logs as episodes of at most `max_turns` steps (world-model rewards)."""
    row_of = pd.Series(np.arange(len(world.users["train"])), index=world.users["train"])
    col_of = pd.Series(np.arange(world.n_items), index=world.items["item_id"].to_numpy())
    logs = interactions[interactions["user_id"].isin(row_of.index)]
    logs = logs[logs["item_id"].isin(col_of.index)]
    if logs.empty:
        raise DataError("no logged interaction of a train-split user with a catalogue item")
    logs = logs.sort_values(["user_id", "timestamp"], kind="stable")
    rows = row_of.loc[logs["user_id"]].to_numpy()
    cols = col_of.loc[logs["item_id"]].to_numpy()
    position = logs.groupby("user_id", sort=False).cumcount().to_numpy()
    # a new episode at each user change and every max_turns steps
    key = rows * 1_000_000 + position // max_turns
    episodes = np.cumsum(np.r_[True, key[1:] != key[:-1]]) - 1
    rewards = world.rewards["train"][rows, cols]
    return windows_from_episodes(rows, cols, rewards, episodes, window)


def scripted_demos(
    world: WorldModel, users: np.ndarray, noise: float = 0.0, seed: int = 0
) -> Transitions:
    """One episode per train row in `users` of the scripted expert (noise: the std of the
    Gaussian added to the 0-5 rewards before the argmax)."""
    from rlrec.interactive.env import VectorRecEnv
    from rlrec.interactive.experience.rollout import rollout

    rng = np.random.default_rng(seed)
    rewards = world.rewards["train"]

    def act(rows: np.ndarray, items: np.ndarray, _rewards: np.ndarray) -> np.ndarray:
        scores = rewards[rows] + (rng.normal(0, noise, (len(rows), world.n_items)) if noise else 0)
        seen = items >= 0
        scores[np.nonzero(seen)[0], items[seen]] = -np.inf
        return scores.argmax(1)

    return rollout(VectorRecEnv.from_world(world, "train"), np.asarray(users), act).transitions


@dataclass
class Demonstrations:
    """Demonstration transitions plus what the conversion did."""

    transitions: Transitions
    info: dict[str, Any]


def demo_transitions(store: DemoStore, world: WorldModel, window: int = 4) -> Demonstrations:
    table = transitions(store)
    if table.empty:
        raise DataError(f"{store.path}: no finished demonstration episode")
    n_steps = len(table)
    table = table[table["item"].notna()]
    imported = store.header.get("backend") == "billp-import"
    if imported:
        col_of = pd.Series(np.arange(world.n_items), index=world.items["item_id"].to_numpy())
        table = table[table["item"].astype("int64").isin(col_of.index)]
        cols = col_of.loc[table["item"].astype("int64")].to_numpy()
    else:
        cols = table["item"].astype("int64").to_numpy()
        if cols.size and cols.max() >= world.n_items:
            raise DataError(f"{store.path}: item ids beyond the world model's {world.n_items}")
    if table.empty:
        raise DataError(f"{store.path}: no demonstration step names a catalogue item")
    episodes = table["episode"].to_numpy()
    if imported:
        rows, mapping = _map_users(world, table["user"].to_numpy(), cols, episodes, table)
    else:
        rows = table["user"].astype("int64").to_numpy()
        mapping = {"own_row": len(np.unique(episodes)), "matched_by_rewards": 0}
        if rows.max() >= len(world.users["train"]):
            raise DataError(f"{store.path}: user rows beyond the world model's train split")
    rewards = world.rewards["train"][rows, cols]
    t = windows_from_episodes(rows, cols, rewards, episodes, window)
    info = {
        "source": str(store.path),
        "backend": store.header.get("backend"),
        "model": store.header.get("model"),
        "episodes": len(np.unique(episodes)),
        "transitions": len(t),
        "dropped_steps": int(n_steps - len(t)),
        "users": mapping,
        "mean_reward_wm": float(rewards.mean()),
    }
    return Demonstrations(t, info)


def _map_users(
    world: WorldModel, users: np.ndarray, cols: np.ndarray, episodes: np.ndarray, table: Any
) -> tuple[np.ndarray, dict[str, int]]:
    """Train row per step: the user's own row if it is a train user, else the best-fitting one."""
    train = world.rewards["train"]
    row_of = {u: i for i, u in enumerate(world.users["train"].tolist())}
    observed = table["reward"].to_numpy(dtype=np.float64)
    rows = np.zeros(len(users), dtype=np.int64)
    kept = matched = 0
    for ep in np.unique(episodes):
        at = np.flatnonzero(episodes == ep)
        user = users[at[0]]
        if user in row_of:
            rows[at] = row_of[user]
            kept += 1
            continue
        known = at[np.isfinite(observed[at])]
        if not len(known):  # nothing observed: the user who likes these items most
            rows[at] = int(train[:, cols[at]].mean(1).argmax())
        else:
            err = ((train[:, cols[known]] - observed[known][None]) ** 2).mean(1)
            rows[at] = int(err.argmin())
        matched += 1
    return rows, {"own_row": kept, "matched_by_rewards": matched}
