"""The demonstration store: round trip, resume after a kill, header checks, learning views."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rlrec.errors import DataError
from rlrec.interactive.demos.store import DemoStore, report, transitions

HEADER = {"backend": "replay", "model": "tiny", "params": {"temperature": 0.5}, "created": "now"}


def _step(item: int, reward: float | None, done: bool = False, grounding: str = "exact") -> dict:
    return {
        "window": [],
        "prompt": "p",
        "response": f"recommend[t{item}]",
        "title": f"t{item}",
        "item": item,
        "similarity": 1.0,
        "grounding": grounding,
        "reward": reward,
        "done": done,
        "reason": "low_reward" if done else "continue",
        "tokens": 3,
        "latency": 0.01,
    }


def _episode(store: DemoStore, user: int, n: int = 3) -> None:
    store.begin_episode(user)
    for i in range(n):
        store.add_step(_step(10 * user + i, 1.0 + i, done=i == n - 1))
    store.end_episode()


def _lines(path: Path) -> list[dict]:
    data = path.read_bytes()
    assert data.endswith(b"\n"), "the file must end with a complete line"
    return [json.loads(line) for line in data.decode().splitlines()]


def _assert_no_duplicates(path: Path) -> None:
    steps = [(r["episode"], r["step"]) for r in _lines(path) if r["kind"] == "step"]
    assert len(steps) == len(set(steps))


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "demos.jsonl"
    with DemoStore.open(path, HEADER) as store:
        _episode(store, 7)
        _episode(store, 8, n=2)
    lines = _lines(path)
    assert lines[0] == {"kind": "header", "format": 1, **HEADER}
    assert [r["kind"] for r in lines[1:]] == ["step"] * 3 + ["episode_end"] + ["step"] * 2 + [
        "episode_end"
    ]
    assert lines[4] == {"kind": "episode_end", "user": 7, "episode": 0, "steps": 3, "return": 6.0}
    store = DemoStore.read(path)
    episodes = list(store.episodes())
    assert [(e.user, e.episode, len(e.steps), e.return_) for e in episodes] == [
        (7, 0, 3, 6.0),
        (8, 1, 2, 3.0),
    ]
    assert episodes[1].steps[0]["title"] == "t80"
    assert store.completed_users() == {7, 8}
    with pytest.raises(RuntimeError):
        store.begin_episode(9)


def test_misuse_is_refused(tmp_path: Path) -> None:
    with DemoStore.open(tmp_path / "d.jsonl", HEADER) as store:
        with pytest.raises(RuntimeError):
            store.add_step(_step(1, 1.0))
        store.begin_episode(1)
        with pytest.raises(RuntimeError):
            store.begin_episode(2)
        with pytest.raises(ValueError):
            store.add_step({"step": 3})


def test_resume_after_simulated_kill(tmp_path: Path) -> None:
    path = tmp_path / "demos.jsonl"
    store = DemoStore.open(path, HEADER)
    _episode(store, 1)
    _episode(store, 2)
    store.begin_episode(3)
    store.add_step(_step(30, 1.0))
    store.add_step(_step(31, 2.0))
    store.close()
    with open(path, "ab") as f:
        f.write(b'{"kind": "step", "user": 3, "epi')  # killed mid-line
    store = DemoStore.open(path, HEADER)
    assert len(store) == 2 and store.completed_users() == {1, 2}
    lines = _lines(path)  # valid JSONL, partial episode gone
    assert sum(r["kind"] == "episode_end" for r in lines) == 2
    assert not any(r.get("user") == 3 for r in lines)
    _episode(store, 3)
    store.close()
    episodes = list(DemoStore.read(path).episodes())
    assert [(e.user, e.episode, len(e.steps)) for e in episodes] == [
        (1, 0, 3),
        (2, 1, 3),
        (3, 2, 3),
    ]
    _assert_no_duplicates(path)


def test_read_ignores_unfinished_tail_without_touching_it(tmp_path: Path) -> None:
    path = tmp_path / "demos.jsonl"
    store = DemoStore.open(path, HEADER)
    _episode(store, 1)
    store.begin_episode(2)
    store.add_step(_step(20, 1.0))
    before = path.read_bytes()
    assert [e.user for e in DemoStore.read(path).episodes()] == [1]
    assert path.read_bytes() == before
    store.close()


def test_header_mismatch_and_malformed_files(tmp_path: Path) -> None:
    path = tmp_path / "demos.jsonl"
    DemoStore.open(path, HEADER).close()
    DemoStore.open(path, {**HEADER, "created": "later"}).close()  # `created` is not compared
    with pytest.raises(DataError, match="model: file 'tiny', asked 'other'"):
        DemoStore.open(path, {**HEADER, "model": "other"})
    with pytest.raises(DataError, match="params"):
        DemoStore.open(path, {**HEADER, "params": {"temperature": 0.7}})
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "header", "format": 1}\nnot json\n')
    with pytest.raises(DataError, match="line 2 is not valid JSON"):
        DemoStore.read(bad)
    with pytest.raises(DataError, match="not found"):
        DemoStore.read(tmp_path / "missing.jsonl")


_WRITER = """
import sys, time
from rlrec.interactive.demos.store import DemoStore
path, n_users, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
header = {"backend": "replay", "model": "tiny", "params": {}}
with DemoStore.open(path, header) as store:
    done = store.completed_users()
    for user in range(n_users):
        if user in done:
            continue
        store.begin_episode(user)
        for i in range(4):
            store.add_step({"item": user * 10 + i, "reward": 1.0, "done": i == 3, "pad": "x" * 500})
            time.sleep(pause)
        store.end_episode()
"""


def test_sigkill_then_resume(tmp_path: Path) -> None:
    path = tmp_path / "demos.jsonl"
    n_users = 40
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(n_users), "0.01"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait for 3 finished episodes and a started 4th, then kill
        data = path.read_bytes() if path.exists() else b""
        last = data.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        if data.count(b'"episode_end"') >= 3 and b'"kind":"step"' in last:
            break
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = len(DemoStore.read(path))
    assert 3 <= killed_at < n_users
    subprocess.run([sys.executable, "-c", _WRITER, str(path), str(n_users), "0"], check=True)
    episodes = list(DemoStore.read(path).episodes())
    assert [e.user for e in episodes] == list(range(n_users))
    assert all(len(e.steps) == 4 for e in episodes)
    _lines(path)  # no broken line
    _assert_no_duplicates(path)


def test_transitions_and_report(tmp_path: Path) -> None:
    path = tmp_path / "demos.jsonl"
    header = {**HEADER, "params": {"window": 2}}
    with DemoStore.open(path, header) as store:
        store.begin_episode(5)
        store.add_step({**_step(1, 4.0), "window": []})
        store.add_step({**_step(2, 3.0, grounding="normalised"), "window": [[1, 4.0]]})
        step = _step(3, None, done=True, grounding="similarity")
        store.add_step({**step, "window": [[1, 4.0], [2, 3.0]], "reason": "quit"})
        store.end_episode()
        store.begin_episode(6)
        store.add_step({**_step(4, 1.0, done=True, grounding="none"), "reason": "low_reward"})
        store.end_episode()
    frame = transitions(DemoStore.read(path))
    assert frame["user"].tolist() == [5, 5, 5, 6]
    assert frame["item"].tolist() == [1, 2, 3, 4]
    assert frame["reward"].iloc[:2].tolist() == [4.0, 3.0] and np.isnan(frame["reward"].iloc[2])
    assert frame["done"].tolist() == [False, False, True, True]
    assert frame["next_window_items"].tolist() == [[1], [1, 2], [2, 3], [4]]
    assert frame["window_items"].iloc[2] == [1, 2]
    stats = report(DemoStore.read(path))
    assert stats["episodes"] == 2 and stats["transitions"] == 4
    assert stats["mean_length"] == 2.0
    assert math.isclose(stats["mean_reward"], 8.0 / 3)
    assert math.isclose(stats["mean_return"], (7.0 + 1.0) / 2)
    assert stats["unknown_rewards"] == 1
    assert stats["grounding_rate"] == 0.5 and stats["hallucination_rate"] == 0.5
    assert stats["quits"] == {"low_reward": 1, "quit": 1}


def test_empty_store_views(tmp_path: Path) -> None:
    path = tmp_path / "demos.jsonl"
    DemoStore.open(path, HEADER).close()
    assert transitions(DemoStore.read(path)).empty
    assert report(DemoStore.read(path))["episodes"] == 0
