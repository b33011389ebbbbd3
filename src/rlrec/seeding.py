"""Seeding, in one place: `torch_rng` for a block of library code, `seed_everything` for an
entry point.

Library code draws from explicit generators (`np.random.Generator`, `torch.Generator`). Torch
itself draws from its global CPU generator where no generator can be passed: a module's weight
initialisation, dropout, `torch.rand` inside a network. `torch_rng` runs such a block from a
given stream and leaves the global state as it found it, so two learners built or trained
side by side never disturb each other's streams:

- `torch_rng(gen)`: the block draws from the `torch.Generator` `gen`, which keeps the state the
  block advanced it to (a learner's own stream across its lifetime, checkpointed with it);
- `torch_rng(seed)`: the block draws from a fresh stream seeded with `seed` (the same numbers
  as `torch.manual_seed(seed)` inside `torch.random.fork_rng`).

An entry point (an experiment's start) seeds Python, NumPy and torch at once with
`seed_everything`; library code never relies on that global state.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


@contextmanager
def torch_rng(source: torch.Generator | int) -> Iterator[None]:
    """Make `source` (a generator, or a seed for a fresh one) torch's global CPU generator
    inside the block; restore the global state after."""
    gen = source if isinstance(source, torch.Generator) else torch.Generator().manual_seed(source)
    saved = torch.get_rng_state()
    torch.set_rng_state(gen.get_state())
    try:
        yield
    finally:
        gen.set_state(torch.get_rng_state())
        torch.set_rng_state(saved)


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch, and return a fresh NumPy Generator for `seed`.

    Library code takes explicit generators; this global seeding is for entry points only.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)
