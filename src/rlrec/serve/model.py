"""A trained policy held for serving: ids in and out, top-k, and batching of concurrent requests.

`LoadedPolicy.from_run` rebuilds any trained learner of a run directory (IL-Rec or a learned
baseline, `rlrec.interactive.study.trained_learner`) and keeps only what answering needs: the
network's scores, the catalogue (raw item ids and titles by column) and the train users (raw ids
by row). A query is a user row (or `NEW_USER`, -1, for an anonymous user or one the policy never
saw) plus a recent history of (item column, reward) pairs, oldest first; the network reads the
last `window` pairs, left-padded with -1 as in training. The answer is the k best-scored items,
items of the given history excluded (the environment punishes repeats).

`recommend` answers a whole batch with one forward pass; `Batcher` gathers the requests that
arrive while a pass is running into the next pass, so the batch grows with the load and a lone
request waits for nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlrec.errors import DataError
from rlrec.interactive.nets import NEW_USER, StateBatch, state_batch

log = logging.getLogger("rlrec")

__all__ = ["Batcher", "LoadedPolicy", "Query", "UnknownId"]


class UnknownId(LookupError):
    """A user or item id that the served policy does not know."""


@dataclass(frozen=True)
class Query:
    """One request as the network sees it."""

    user: int  # train row, or NEW_USER
    items: np.ndarray  # [H] item columns, oldest first
    rewards: np.ndarray  # [H] their rewards
    k: int


@dataclass
class LoadedPolicy:
    """A trained policy and the id maps around it. `scores(StateBatch) -> [B, n_items]`."""

    scores: Any
    item_ids: list[Any]  # column -> raw item id (JSON-ready)
    titles: list[str]  # column -> title
    user_ids: list[Any]  # train row -> raw user id (JSON-ready)
    window: int
    info: dict[str, Any] = field(default_factory=dict)
    max_k: int = 100
    max_history: int = 100

    def __post_init__(self) -> None:
        self._user_row = {_key(u): row for row, u in enumerate(self.user_ids)}
        self._item_column = {_key(i): col for col, i in enumerate(self.item_ids)}
        self.max_k = min(self.max_k, len(self.item_ids))

    @classmethod
    def from_run(
        cls, run_dir: str | Path, method: str = "il-rec", seed: int | None = None
    ) -> LoadedPolicy:
        """Load `runs/<name>/train/<method>/seed<seed>/policy.pt` with the run's world model
        (DataError naming the command to run when something is missing)."""
        from rlrec.config import load_config
        from rlrec.data import load_dataset
        from rlrec.experiment import ExperimentConfig
        from rlrec.interactive.study import trained_learner
        from rlrec.interactive.worldmodel import WorldModel
        from rlrec.runs import Run

        run_dir = Path(run_dir)
        if not (run_dir / "config.yaml").is_file():
            raise DataError(f"{run_dir} is not a run directory (no config.yaml)")
        cfg = load_config(ExperimentConfig, run_dir / "config.yaml", [])
        world = WorldModel.load(run_dir / "worldmodel")
        ds = load_dataset(cfg.data)
        learner = trained_learner(cfg, Run(run_dir), ds, world, method, seed)
        policy = learner.policy()
        seed = cfg.seed if seed is None else seed
        info = {
            "run": run_dir.name,
            "method": method,
            "seed": seed,
            "data": cfg.data.name,
            "policy": policy.name,
        }
        return cls(
            scores=policy.scores,
            item_ids=world.items["item_id"].tolist(),
            titles=world.items["title"].astype(str).tolist(),
            user_ids=np.asarray(world.users["train"]).tolist(),
            window=cfg.ilrec.window,
            info=info,
            max_history=cfg.evaluation.quit.max_turns,
        )

    # -- ids -------------------------------------------------------------------------------------

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def user_row(self, user_id: Any) -> int:
        """The train row of a raw user id; `None` is the anonymous user (`NEW_USER`)."""
        if user_id is None:
            return NEW_USER
        try:
            return self._user_row[_key(user_id)]
        except KeyError:
            raise UnknownId(f"unknown user_id {user_id!r}") from None

    def item_column(self, item_id: Any) -> int:
        try:
            return self._item_column[_key(item_id)]
        except KeyError:
            raise UnknownId(f"unknown item_id {item_id!r}") from None

    # -- answering -------------------------------------------------------------------------------

    @torch.no_grad()
    def recommend(self, queries: list[Query]) -> list[list[dict[str, Any]]]:
        """Top-k items of each query, best first: [{"item_id", "title", "score"}], one pass."""
        states = self.states(queries)
        scores = self.scores(states).float()  # [B, I]
        rows = np.repeat(np.arange(len(queries)), [len(q.items) for q in queries])
        if rows.size:  # no item of a query's own history comes back
            cols = np.concatenate([q.items for q in queries])
            scores[torch.from_numpy(rows), torch.from_numpy(cols)] = -torch.inf
        k_max = max(q.k for q in queries)
        top_scores, top_items = torch.topk(scores, k_max, dim=1)
        out = []
        for q, s, cols in zip(queries, top_scores.tolist(), top_items.tolist(), strict=True):
            out.append(
                [
                    {"item_id": self.item_ids[c], "title": self.titles[c], "score": v}
                    for c, v in zip(cols[: q.k], s[: q.k], strict=True)
                    if v != -np.inf  # only when k exceeds the items left after the history
                ]
            )
        return out

    def states(self, queries: list[Query]) -> StateBatch:
        """[B] users and [B, window] windows, left-padded with -1, oldest first."""
        w = self.window
        items = np.full((len(queries), w), -1, dtype=np.int64)
        rewards = np.zeros((len(queries), w), dtype=np.float32)
        for b, q in enumerate(queries):
            n = min(len(q.items), w)
            if n:
                items[b, w - n :] = q.items[-n:]
                rewards[b, w - n :] = q.rewards[-n:]
        users = np.array([q.user for q in queries], dtype=np.int64)
        return state_batch(users, items, rewards)

    def metadata(self) -> dict[str, Any]:
        return {
            **self.info,
            "n_items": self.n_items,
            "n_users": len(self.user_ids),
            "window": self.window,
            "max_k": self.max_k,
            "max_history": self.max_history,
        }


def _key(raw: Any) -> str:
    """Ids compare as text, so `7` and `"7"` name the same user; `True` is not an id."""
    if isinstance(raw, bool) or not isinstance(raw, int | str | np.integer):
        return f"\0{raw!r}"  # matches nothing
    return str(raw)


class Batcher:
    """Answers concurrent queries in batches: one worker thread runs `model.recommend` on every
    query queued while the previous pass ran (at most `max_batch`); the event loop stays free."""

    def __init__(self, model: LoadedPolicy, max_batch: int = 256) -> None:
        self.model = model
        self.max_batch = max_batch
        self.batches = 0
        self.queries = 0
        self.busy_s = 0.0  # wall seconds inside `recommend`
        self._queue: asyncio.Queue[tuple[Query, asyncio.Future]] | None = None
        self._task: asyncio.Task | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rlrec-policy")

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._pool.shutdown(wait=False)

    async def submit(self, query: Query) -> list[dict[str, Any]]:
        if self._queue is None:
            raise RuntimeError("Batcher.start() first")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((query, future))
        return await future

    def _timed(self, queries: list[Query]) -> list[list[dict[str, Any]]]:
        start = time.perf_counter()
        try:
            return self.model.recommend(queries)
        finally:
            self.busy_s += time.perf_counter() - start

    async def _loop(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            queries = [q for q, _ in batch]
            try:
                answers = await loop.run_in_executor(self._pool, self._timed, queries)
            except Exception as err:  # a bug, not the user's input (validated before)
                log.exception("policy pass failed")
                for _, future in batch:
                    if not future.done():
                        future.set_exception(err)
                continue
            self.batches += 1
            self.queries += len(batch)
            for (_, future), answer in zip(batch, answers, strict=True):
                if not future.done():  # the client may have gone
                    future.set_result(answer)
