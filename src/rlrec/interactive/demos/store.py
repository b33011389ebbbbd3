"""Append-only, resumable store of demonstration trajectories (docs/ilrec.md#demonstrations; DESIGN
"Demonstrations").

One JSON Lines file. The first line is a header given by the caller:

    {"kind": "header", "format": 1, "backend": ..., "model": ..., "params": {...}, "created": ...}

then one line per step, then an `episode_end` line closing each episode:

    {"kind": "step", "user", "episode", "step", "window": [[item, reward], ...], "prompt",
     "response", "title", "item", "similarity", "grounding", "reward", "done", "reason",
     "tokens", "latency", ...}
    {"kind": "episode_end", "user", "episode", "steps", "return"}

`episode` is the episode's index in the file (0, 1, ...), `step` its index in the episode. The
step fields other than kind/user/episode/step are the caller's; `transitions` and `report` read
`item`, `reward` (None = unknown, e.g. BiLLP's quit step), `done`, `reason`, `window` and
`grounding` ("exact", "normalised", "similarity", "replaced" or "none").

Crash safety. Each line goes to the file in one `write` of the complete line and the file is
fsync'ed at each episode end, so a kill leaves at most one partial line, at the end. On open, the
file is read back: a trailing partial line and the steps of an episode that has no `episode_end`
are removed (the file is rewritten atomically: temporary file + rename), finished episodes are
kept, and `completed_users()` tells the generator whom to skip, so nothing is written twice.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rlrec.atomic import write_bytes
from rlrec.errors import DataError

__all__ = ["FORMAT", "HEADER_KEYS", "DemoStore", "Episode", "report", "transitions"]

FORMAT = 1
HEADER_KEYS = ("format", "backend", "model", "params")  # compared on resume; `created` is not
MATCHED = ("exact", "normalised")  # grounding methods that count as the title naming an item
_RESERVED = ("kind", "user", "episode", "step")


@dataclass(frozen=True)
class Episode:
    """A finished episode: its user, index in the file, steps (dicts, in order) and return."""

    user: Any
    episode: int
    steps: list[dict[str, Any]]
    return_: float


class DemoStore:
    """A demonstration file opened for appending (`open`) or reading only (`read`)."""

    def __init__(self, path: Path, header: dict[str, Any], writable: bool) -> None:
        self.path = path
        self.header = header
        self._writable = writable
        self._fh: Any = None
        self._users: Counter[Any] = Counter()
        self._n_episodes = 0
        self._current: dict[str, Any] | None = None  # user, episode, steps, return

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str], header: dict[str, Any]) -> DemoStore:
        """Open `path` for appending, creating it with `header`, or resuming it.

        On resume the stored header must agree with `header` on format, backend, model and
        params (else DataError); unfinished trailing episodes are removed first.
        """
        path = Path(path)
        header = {"kind": "header", "format": FORMAT, **header}
        if path.exists():
            stored, kept_bytes, episodes, data = _scan(path)
            _check_header(path, stored, header)
            if kept_bytes != len(data):
                write_bytes(path, data[:kept_bytes])  # drop the partial tail atomically
            store = cls(path, stored, writable=True)
            for user, _ in episodes:
                store._users[user] += 1
            store._n_episodes = len(episodes)
        else:
            write_bytes(path, _line(header))
            store = cls(path, header, writable=True)
        store._fh = open(path, "ab", buffering=0)  # noqa: SIM115 - closed by close()
        return store

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> DemoStore:
        """Open `path` read-only; an unfinished tail is ignored but not removed."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"demonstration file not found: {path}")
        stored, _, episodes, _ = _scan(path)
        store = cls(path, stored, writable=False)
        for user, _ in episodes:
            store._users[user] += 1
        store._n_episodes = len(episodes)
        return store

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> DemoStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------------------

    def begin_episode(self, user: Any) -> int:
        """Start an episode for `user`; returns its index in the file."""
        if not self._writable or self._fh is None:
            raise RuntimeError("this DemoStore is not open for writing")
        if self._current is not None:
            raise RuntimeError("end_episode() the current episode before beginning another")
        self._current = {"user": user, "episode": self._n_episodes, "steps": 0, "return": 0.0}
        return self._n_episodes

    def add_step(self, step: dict[str, Any]) -> None:
        """Append one step (the caller's fields; kind/user/episode/step are filled in)."""
        cur = self._current
        if cur is None:
            raise RuntimeError("begin_episode() before add_step()")
        clash = [k for k in _RESERVED if k in step]
        if clash:
            raise ValueError(f"step fields {clash} are set by the store")
        record = {"kind": "step", "user": cur["user"], "episode": cur["episode"]}
        record["step"] = cur["steps"]
        record.update(step)
        self._write(_line(record))
        cur["steps"] += 1
        if step.get("reward") is not None:
            cur["return"] += float(step["reward"])

    def end_episode(self) -> dict[str, Any]:
        """Close the current episode with its `episode_end` line, fsync; returns that line."""
        cur = self._current
        if cur is None:
            raise RuntimeError("no episode to end")
        end = {"kind": "episode_end", "user": cur["user"], "episode": cur["episode"]}
        end.update(steps=cur["steps"], **{"return": cur["return"]})
        self._write(_line(end))
        os.fsync(self._fh.fileno())
        self._current = None
        self._users[cur["user"]] += 1
        self._n_episodes += 1
        return end

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # one write for a regular file; loop only on a short write
            view = view[self._fh.write(view) :]

    # -- reading -----------------------------------------------------------------------------

    def completed_users(self) -> set[Any]:
        """Users with at least one finished episode."""
        return set(self._users)

    def episode_counts(self) -> Counter[Any]:
        """Finished episodes per user."""
        return Counter(self._users)

    def __len__(self) -> int:
        return self._n_episodes

    def episodes(self) -> Iterator[Episode]:
        """Iterate the finished episodes, streaming the file (unfinished steps are skipped)."""
        with open(self.path, "rb") as f:
            f.readline()  # header
            steps: list[dict[str, Any]] = []
            for n, raw in enumerate(f, start=2):
                if not raw.endswith(b"\n"):
                    return
                rec = _parse(raw, self.path, n)
                if rec.get("kind") == "step":
                    steps.append(rec)
                elif rec.get("kind") == "episode_end":
                    yield Episode(rec["user"], rec["episode"], steps, float(rec["return"]))
                    steps = []


# -- scanning and validation -------------------------------------------------------------------


def _line(record: dict[str, Any]) -> bytes:
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=_default)
    return (text + "\n").encode("utf-8")


def _default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON-serialisable in a demonstration step: {type(obj).__name__}")


def _parse(raw: bytes, path: Path, n: int) -> dict[str, Any]:
    try:
        rec = json.loads(raw)
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: line {n} is not valid JSON ({err.msg})") from None
    if not isinstance(rec, dict):
        raise DataError(f"{path}: line {n} is not a JSON object")
    return rec


def _scan(path: Path) -> tuple[dict[str, Any], int, list[tuple[Any, int]], bytes]:
    """Header, bytes to keep (through the last `episode_end`), finished episodes, file bytes."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    complete = lines[:-1]  # the last element is b"" or a partial line without newline
    if not complete:
        raise DataError(f"{path}: not a demonstration file (no complete header line)")
    header = _parse(complete[0], path, 1)
    if header.get("kind") != "header":
        raise DataError(f"{path}: not a demonstration file (first line is not a header)")
    offset = len(complete[0]) + 1
    kept, episodes, open_steps, open_key = offset, [], 0, None
    for n, raw in enumerate(complete[1:], start=2):
        offset += len(raw) + 1
        rec = _parse(raw, path, n)
        kind = rec.get("kind")
        if kind == "step":
            key = (rec.get("user"), rec.get("episode"))
            if open_steps and key != open_key:
                raise DataError(f"{path}: line {n} starts a new episode before the last ended")
            if key[1] != len(episodes) or rec.get("step") != open_steps:
                raise DataError(f"{path}: line {n}: unexpected episode/step index")
            open_key, open_steps = key, open_steps + 1
        elif kind == "episode_end":
            if rec.get("episode") != len(episodes) or rec.get("steps") != open_steps:
                raise DataError(f"{path}: line {n}: episode_end does not match its steps")
            episodes.append((rec.get("user"), open_steps))
            kept, open_steps = offset, 0
        else:
            raise DataError(f"{path}: line {n}: unknown record kind {kind!r}")
    return header, kept, episodes, data


def _check_header(path: Path, stored: dict[str, Any], wanted: dict[str, Any]) -> None:
    diff = [k for k in HEADER_KEYS if stored.get(k) != wanted.get(k)]
    if diff:
        detail = "; ".join(f"{k}: file {stored.get(k)!r}, asked {wanted.get(k)!r}" for k in diff)
        raise DataError(
            f"{path} holds demonstrations from another setting ({detail}); "
            "use a new file or the same backend, model and params"
        )


# -- learning views ----------------------------------------------------------------------------


def transitions(store: DemoStore) -> pd.DataFrame:
    """One row per step of the finished episodes, for learning.

    Columns: user, episode, step, item, title, reward (NaN = unknown), done, reason, grounding,
    similarity, window_items / window_rewards (the state: the recent (item, reward) pairs, oldest
    first) and next_window_items / next_window_rewards (the window after this step: this step's
    (item, reward) appended and the oldest pair dropped beyond `params["window"]`, default 4).
    """
    width = int(store.header.get("params", {}).get("window", 4))
    rows = []
    for ep in store.episodes():
        for s in ep.steps:
            window = [tuple(p) for p in s.get("window") or []]
            reward = s.get("reward")
            nxt = [*window, (s.get("item"), reward)][-width:]
            rows.append(
                {
                    "user": s["user"],
                    "episode": s["episode"],
                    "step": s["step"],
                    "item": s.get("item"),
                    "title": s.get("title"),
                    "reward": np.nan if reward is None else float(reward),
                    "done": bool(s.get("done", False)),
                    "reason": s.get("reason"),
                    "grounding": s.get("grounding"),
                    "similarity": s.get("similarity"),
                    "window_items": [p[0] for p in window],
                    "window_rewards": [p[1] for p in window],
                    "next_window_items": [p[0] for p in nxt],
                    "next_window_rewards": [p[1] for p in nxt],
                }
            )
    frame = pd.DataFrame(rows, columns=_COLUMNS)
    frame["item"] = frame["item"].astype("Int64")
    frame["reward"] = frame["reward"].astype(float)
    return frame


_COLUMNS = [
    "user",
    "episode",
    "step",
    "item",
    "title",
    "reward",
    "done",
    "reason",
    "grounding",
    "similarity",
    "window_items",
    "window_rewards",
    "next_window_items",
    "next_window_rewards",
]


def report(store: DemoStore) -> dict[str, Any]:
    """Summary of the finished episodes.

    grounding_rate: share of steps whose title named a catalogue item (exactly, or after light
    normalisation: case, quotes, whitespace); hallucination_rate: the other steps (grounded only
    by similarity, replaced by the environment, or not grounded). llm_chosen_rate /
    fallback_rate: share of steps whose item the LLM chose / a fallback rule chose (the step's
    `chosen_by`; steps of older stores without it count in neither). mean_reward is over steps
    with a known reward; mean_return sums the known rewards of each episode.
    """
    lengths, returns, rewards = [], [], []
    methods: Counter[str] = Counter()
    quits: Counter[str] = Counter()
    chosen: Counter[str] = Counter()
    for ep in store.episodes():
        lengths.append(len(ep.steps))
        returns.append(ep.return_)
        for s in ep.steps:
            if s.get("reward") is not None:
                rewards.append(float(s["reward"]))
            methods[str(s.get("grounding"))] += 1
            chosen[str(s.get("chosen_by"))] += 1
            if s.get("done"):
                quits[str(s.get("reason"))] += 1
    n_steps = sum(lengths)
    matched = sum(methods[m] for m in MATCHED)
    return {
        "episodes": len(lengths),
        "transitions": n_steps,
        "users": len(store.completed_users()),
        "mean_length": float(np.mean(lengths)) if lengths else 0.0,
        "mean_reward": float(np.mean(rewards)) if rewards else float("nan"),
        "mean_return": float(np.mean(returns)) if returns else float("nan"),
        "unknown_rewards": n_steps - len(rewards),
        "grounding_rate": matched / n_steps if n_steps else float("nan"),
        "hallucination_rate": (n_steps - matched) / n_steps if n_steps else float("nan"),
        "llm_chosen_rate": chosen["llm"] / n_steps if n_steps else float("nan"),
        "fallback_rate": chosen["fallback"] / n_steps if n_steps else float("nan"),
        "grounding": dict(sorted(methods.items())),
        "quits": dict(sorted(quits.items())),
    }
