"""Process-wide knobs: seeding and thread counts. Only entry points call these."""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np

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
    """Apply `num_threads()` to torch (intra-op, and inter-op when still possible)."""
    import torch

    n = num_threads()
    torch.set_num_threads(n)
    with contextlib.suppress(RuntimeError):  # settable only once, before parallel work ran
        torch.set_num_interop_threads(n)
    return n


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch, and return a fresh NumPy Generator for `seed`.

    Library code takes explicit generators; this global seeding is for entry points only.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    import torch

    torch.manual_seed(seed)
    return np.random.default_rng(seed)
