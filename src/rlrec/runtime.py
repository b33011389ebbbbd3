"""Process-wide knobs: thread counts (seeding: `rlrec.seeding`). Only entry points call these
(and the training and serving loops call `ThreadGovernor.update`)."""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

from rlrec.errors import ConfigError

THREADS_ENV = "RLREC_THREADS"
DEFAULT_THREADS = 2


def num_threads() -> int:
    """Threads for torch and llama.cpp, from `RLREC_THREADS` (default 2)."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return DEFAULT_THREADS
    try:
        n = int(raw)
    except ValueError:
        raise ConfigError(f"{THREADS_ENV} must be a positive integer, got {raw!r}") from None
    if n < 1:
        raise ConfigError(f"{THREADS_ENV} must be a positive integer, got {raw!r}")
    return n


def apply_threads() -> int:
    """Apply `num_threads()` to torch (intra-op, and inter-op when still possible) and to
    NumPy's BLAS."""
    import torch

    n = num_threads()
    set_threads(n)
    with contextlib.suppress(RuntimeError):  # settable only once, before parallel work ran
        torch.set_num_interop_threads(n)
    return n


def machine_cpu_seconds() -> tuple[float, float] | None:
    """(CPU-seconds the cores this process may run on have spent busy since boot, for every
    process, and CPU-seconds this process has spent), from Linux's /proc/stat (user, nice,
    system, irq, softirq and steal: time a hypervisor gave to other machines is not ours
    either); None where unreadable."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    ticks = 0
    for line in lines:
        fields = line.split()
        if len(fields) < 9 or not fields[0].startswith("cpu") or fields[0] == "cpu":
            continue
        if allowed is not None and int(fields[0][3:]) not in allowed:
            continue
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
        ticks += user + nice + system + irq + softirq + steal
    if not ticks:
        return None
    own = os.times()
    return ticks / os.sysconf("SC_CLK_TCK"), own.user + own.system


class ThreadGovernor:
    """torch's intra-op threads (and BLAS's) chosen from the cores the machine's other processes
    leave idle.

    With two threads and one core taken by another process, every parallel operator waits for
    the thread the scheduler has put aside: IL-Rec's training ran 5x slower with two threads
    than with one beside a busy process (docs/speed.md). `update()`, called once per training
    iteration or served batch, re-reads the machine's CPU use every `interval` seconds and sets
    threads = the cores the others leave free (rounded, with `margin`), between 1 and
    `max_threads` (`RLREC_THREADS`): an idle machine gets them all, a busy core costs its share.
    Without /proc/stat (not Linux) it keeps `max_threads`. As a context manager it sets
    `max_threads` back on exit."""

    def __init__(
        self,
        max_threads: int | None = None,
        interval: float = 0.5,
        margin: float = 0.3,
        cores: int | None = None,
        reader: Callable[[], tuple[float, float] | None] = machine_cpu_seconds,
        apply: Callable[[int], None] | None = None,
    ) -> None:
        self.max_threads = max_threads or num_threads()
        self.interval, self.margin = interval, margin
        self.cores = cores or _usable_cores()
        self.reader, self.apply = reader, apply or set_threads
        self.threads = self.max_threads
        self.others = 0.0  # cores the other processes used over the last interval
        self._last: tuple[float, float, float] | None = None

    def __enter__(self) -> ThreadGovernor:
        return self

    def __exit__(self, *exc: object) -> None:
        """Back to `max_threads` (what the block started from), changed or not."""
        if self.threads != self.max_threads:
            self.apply(self.max_threads)
            self.threads = self.max_threads

    def update(self) -> int:
        """The thread count to use now (changed at most once per `interval`)."""
        now = time.monotonic()
        if self._last is not None and now - self._last[0] < self.interval:
            return self.threads
        reading = self.reader()
        if reading is None:
            return self.threads
        if self._last is not None:
            wall = now - self._last[0]
            busy, own = reading[0] - self._last[1], reading[1] - self._last[2]
            self.others = max(0.0, (busy - own) / wall)
            free = self.cores - self.others
            threads = max(1, min(self.max_threads, math.floor(free + self.margin)))
            if threads != self.threads:
                self.apply(threads)
                self.threads = threads
        self._last = (now, *reading)
        return self.threads


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def set_threads(n: int) -> None:
    """`n` threads for torch's operators and for NumPy's BLAS (OpenBLAS starts one per core
    by default: the inference path's matrix products collapse under load as torch's did)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    threadpool_limits(n, user_api="blas")
