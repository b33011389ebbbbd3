"""The registry of cold-start methods: MARCO, its parity mode and the baselines, by name.

Names (lower-case; `-each` expands to one entry per source domain of the task):
    marco            MARCO as the paper describes it (marco.py)
    marco-parity     the released code's behaviour (marco.parity_config)
    tgt, cmf         baselines/tgt.py, baselines/cmf.py
    emcdr            EMCDR with the sources combined; emcdr[<domain>] one source; emcdr-each
    ptupcdr          PTUPCDR with the sources combined; ptupcdr[<domain>]; ptupcdr-each
    remit            REMIT-style single agent over the domains
    uniform          uniform average of the bridged source embeddings
    gate             MARCO's weighting network trained by gradient instead of RL (diagnostic)
and the reference rows (references.py): global-mean, item-mean, warm (an upper reference) and,
on synthetic data with a planted truth, oracle, ideal-all and ideal[<domain>] / ideal-each.
Every fitted method exposes `predict(users, items)`; the RL-weighted ones also a weight summary.
lambda_H of the RL methods is chosen on the validation users from `entropy_grid`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from rlrec.crossdomain.baselines.cmf import fit_cmf
from rlrec.crossdomain.baselines.emcdr import EMCDRConfig, fit_emcdr
from rlrec.crossdomain.baselines.ptupcdr import ptupcdr_setup
from rlrec.crossdomain.baselines.remit import remit_config
from rlrec.crossdomain.baselines.tgt import TGT
from rlrec.crossdomain.domains import CrossDomainTask, SplitConfig
from rlrec.crossdomain.inputs import parity_inputs, per_domain_inputs
from rlrec.crossdomain.marco import Marco, MarcoConfig, parity_config
from rlrec.crossdomain.mf import MF, MFConfig
from rlrec.crossdomain.references import REFERENCES, Truth, fit_reference
from rlrec.errors import ConfigError

__all__ = ["METHODS", "Fitted", "MethodSettings", "expand_methods", "fit_method"]

METHODS = (
    "marco",
    "marco-parity",
    "tgt",
    "cmf",
    "emcdr",
    "emcdr-each",
    "ptupcdr",
    "ptupcdr-each",
    "remit",
    "uniform",
    "gate",
    *REFERENCES,
)
_PER_SOURCE = ("emcdr", "ptupcdr", "ideal")  # bases that take [<source>] and -each
_NAME = re.compile(r"^(?P<base>[a-z-]+)(\[(?P<source>[^\]]+)\])?$")


@dataclass
class MethodSettings:
    """What the methods are configured with (sections of the experiment config)."""

    marco: MarcoConfig
    mf: MFConfig
    emcdr: EMCDRConfig
    split: SplitConfig
    entropy_grid: list[float] = field(default_factory=lambda: [1e-3])
    truth: Truth | None = None  # synthetic data: the planted truth (reference rows)


@dataclass
class Fitted:
    name: str
    model: Any
    info: dict[str, Any] = field(default_factory=dict)

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.model.predict(users, items)


def expand_methods(names: list[str], sources: list[str]) -> list[str]:
    """Validate names and expand `<base>-each` into `<base>[<source>]` per source."""
    out = []
    for name in names:
        m = _NAME.match(name)
        base = m["base"] if m else name
        known = base in METHODS or (base in _PER_SOURCE and m and m["source"])
        if not known or (m and m["source"] and base not in _PER_SOURCE):
            raise ConfigError(f"unknown method {name!r}; known methods: {', '.join(METHODS)}")
        if m and m["source"] and m["source"] not in sources:
            raise ConfigError(f"method {name!r}: {m['source']!r} is not a source ({sources})")
        if base.endswith("-each"):
            out += [f"{base.removesuffix('-each')}[{s}]" for s in sources]
        else:
            out.append(name)
    return out


def fit_method(
    name: str, task: CrossDomainTask, mfs: dict[str, MF], settings: MethodSettings, seed: int
) -> Fitted:
    """Fit method `name` (as `expand_methods` returns it) on `task`."""
    m = _NAME.match(name)
    assert m is not None, name
    base, source = m["base"], m["source"]
    if base in REFERENCES or base == "ideal":
        ref = fit_reference(name, task, mfs[task.target], settings.mf, settings.truth, seed)
        return Fitted(name, ref)
    if base == "tgt":
        return Fitted(name, TGT(mfs[task.target]))
    if base == "cmf":
        return Fitted(name, fit_cmf(task, settings.mf, seed))
    if base == "emcdr":
        sources = [source] if source else task.sources
        return Fitted(name, fit_emcdr(task, mfs, sources, settings.emcdr, seed))
    if base == "ptupcdr":
        cfg, inputs = ptupcdr_setup(task, mfs, settings.marco, source)
        return _fit_transfer(name, cfg, inputs, task, seed, [None])
    if base in ("uniform", "gate"):
        cfg = settings.marco.model_copy(update={"weighting": base})
        return _fit_transfer(name, cfg, per_domain_inputs(task, mfs), task, seed, [None])
    grid: list[float | None] = list(settings.entropy_grid)
    if base == "remit":
        inputs = per_domain_inputs(task, mfs)
        return _fit_transfer(name, remit_config(settings.marco), inputs, task, seed, grid)
    if base == "marco":
        return _fit_transfer(name, settings.marco, per_domain_inputs(task, mfs), task, seed, grid)
    cfg = parity_config(settings.marco)  # marco-parity
    gen = torch.Generator().manual_seed(seed)
    inputs = parity_inputs(
        task,
        mfs,
        cfg.parity_seq_len,
        settings.split.positive_threshold,
        cfg.target_self,
        settings.mf.init_std,
        gen,
    )
    return _fit_transfer(name, cfg, inputs, task, seed, grid, with_test=True)


def _fit_transfer(
    name: str,
    cfg: MarcoConfig,
    inputs: Any,
    task: CrossDomainTask,
    seed: int,
    grid: list[float | None],
    with_test: bool = False,
) -> Fitted:
    """Fit the MARCO trainer once per lambda_H in `grid`; keep the best on validation MAE."""
    train, val, test = (task.target_ratings(s) for s in ("train", "val", "test"))
    runs = []
    for lam in grid:
        c = (
            cfg
            if lam is None
            else cfg.model_copy(
                update={"mappo": cfg.mappo.model_copy(update={"entropy_coef": lam})}
            )
        )
        model = Marco(c, inputs, seed).fit(
            train, val, test if with_test else None, rating_range=task.rating_range
        )
        best_val = min(
            (r.get("val/mae", np.inf) for r in model.history_ if r["epoch"] == model.best_epoch_),
            default=np.inf,
        )
        runs.append((best_val, lam, model))
    best_val, lam, model = min(runs, key=lambda r: r[0])
    info: dict[str, Any] = {
        "best_epoch": model.best_epoch_,
        "history": model.history_,
        "val_mae_by_lambda": {str(r[1]): r[0] for r in runs} if lam is not None else None,
        "entropy_coef": lam,
        "agents": inputs.names,
    }
    if with_test:  # the release's habit, reported beside the validation choice (parity only)
        info["best_on_test"] = {
            key: min(r[f"test/{key}"] for r in model.history_ if f"test/{key}" in r)
            for key in ("mae", "rmse")
        }
    return Fitted(name, model, info)
