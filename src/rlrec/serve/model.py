"""A trained policy held for serving: ids in and out, top-k, and batching of concurrent requests.

`LoadedPolicy.load` reads a policy exported by `rlrec export` (`rlrec.export`: the scoring
network, the catalogue and the train users in one file, no dataset, world model or
demonstrations needed) or, given a run directory, exports the run's trained learner in memory
first. It keeps only what answering needs: the network's scores, the catalogue (raw item ids
and titles by column) and the train users (raw ids by row).

A query is a user row (or `NEW_USER`, -1, for an anonymous user or one the policy never saw)
plus a recent history of (item column, reward) pairs, oldest first; the network reads the
last `window` pairs, left-padded with -1 as in training. The answer is the k best-scored items,
items of the given history excluded (the environment punishes repeats).

`recommend` answers a whole batch with one forward pass; `Batcher` gathers the requests that
arrive while a pass is running into the next pass, so the batch grows with the load and a lone
request waits for nothing.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlrec.errors import DataError
from rlrec.export import Artefact, read_artefact
from rlrec.interactive.experience.batches import NEW_USER, StateBatch, state_batch
from rlrec.interactive.learners.inference import FastScorer
from rlrec.runtime import ThreadGovernor

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
    """A trained policy and the id maps around it. `scores(StateBatch) -> [B, n_items]`;
    `fast`, where the network has one, the same scores on the NumPy inference path
    (`learners.inference`), which `recommend` then uses."""

    scores: Any
    item_ids: list[Any]  # column -> raw item id (JSON-ready)
    titles: list[str]  # column -> title
    user_ids: list[Any]  # train row -> raw user id (JSON-ready)
    window: int
    info: dict[str, Any] = field(default_factory=dict)
    max_k: int = 100
    max_history: int = 100
    fast: FastScorer | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._user_row = {_key(u): row for row, u in enumerate(self.user_ids)}
        self._item_column = {_key(i): col for col, i in enumerate(self.item_ids)}
        self.max_k = min(self.max_k, len(self.item_ids))

    @classmethod
    def load(
        cls, path: str | Path, method: str = "il-rec", seed: int | None = None
    ) -> LoadedPolicy:
        """An exported policy file (`rlrec export`; `method` and `seed` are its own), or the
        trained `method` of a run directory."""
        path = Path(path)
        if not path.exists():
            raise DataError(
                f"{path} is not a run directory nor a policy file (`rlrec export` writes one): "
                "not found"
            )
        if path.is_dir():
            return cls.from_run(path, method, seed)
        return cls.from_artefact(read_artefact(path))

    @classmethod
    def from_run(
        cls, run_dir: str | Path, method: str = "il-rec", seed: int | None = None
    ) -> LoadedPolicy:
        """The trained `method` of a run directory, exported in memory: this rebuilds the
        learner, so it reads the run's dataset, world model and demonstrations (an exported
        file does not; DataError naming the command to run when something is missing)."""
        from rlrec.export import artefact_from_run

        return cls.from_artefact(artefact_from_run(run_dir, method, seed))

    @classmethod
    def from_artefact(cls, artefact: Artefact) -> LoadedPolicy:
        """The policy of an exported artefact (`rlrec.export`)."""
        source = artefact.source
        keys = ("run", "method", "seed", "data", "policy")
        return cls(
            scores=artefact.scores(),
            item_ids=artefact.item_ids,
            titles=artefact.titles,
            user_ids=artefact.user_ids,
            window=artefact.window,
            info={k: source.get(k) for k in keys},
            max_history=artefact.max_history,
            fast=artefact.fast_scorer(),
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
        """Top-k items of each query, best first: [{"item_id", "title", "score"}], one pass
        (thread-safe: the inference path's buffer is used by one call at a time)."""
        with self._lock:
            return self._recommend(queries)

    def _recommend(self, queries: list[Query]) -> list[list[dict[str, Any]]]:
        users, items, rewards = self.windows(queries)
        if self.fast is not None:
            scores = torch.from_numpy(self.fast(users, items, rewards))  # [B, I], no copy
        else:
            scores = self.scores(state_batch(users, items, rewards)).float()
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

    def windows(self, queries: list[Query]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """users [B], items [B, window] and rewards [B, window], left-padded with -1, oldest
        first."""
        w = self.window
        items = np.full((len(queries), w), -1, dtype=np.int64)
        rewards = np.zeros((len(queries), w), dtype=np.float32)
        for b, q in enumerate(queries):
            n = min(len(q.items), w)
            if n:
                items[b, w - n :] = q.items[-n:]
                rewards[b, w - n :] = q.rewards[-n:]
        users = np.array([q.user for q in queries], dtype=np.int64)
        return users, items, rewards

    def states(self, queries: list[Query]) -> StateBatch:
        """The queries' states as the network reads them (`windows` as tensors)."""
        return state_batch(*self.windows(queries))

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
    query queued while the previous pass ran (at most `max_batch`); the event loop stays free.
    Before each pass a `runtime.ThreadGovernor` lowers the threads while other processes hold
    cores."""

    def __init__(self, model: LoadedPolicy, max_batch: int = 256) -> None:
        self.model = model
        self.max_batch = max_batch
        self.batches = 0
        self.queries = 0
        self.busy_s = 0.0  # wall seconds inside `recommend`
        self._queue: asyncio.Queue[tuple[Query, asyncio.Future]] | None = None
        self._task: asyncio.Task | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rlrec-policy")
        # fewer threads for the passes while other processes hold cores (`runtime`)
        self.governor = ThreadGovernor(torch.get_num_threads())

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
        self.governor.update()  # in the worker thread, where the pass runs
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
