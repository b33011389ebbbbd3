"""`rlrec bench marco`: MARCO's training throughput and prediction throughput (CPU, seeded).

Setup: `synthetic-amazon` with 4 domains (n_users users over all domains, n_items items per
domain, 60% in every domain), target Books, beta 0.2, MF pretrained for a few epochs. The same
data and bridges are then timed under two settings, side by side in one process:
    marco   the default config (per-domain agents, Gaussian MAPPO, one-step advantages,
            PPO epochs over shuffled minibatches)
    parity  `parity_config` (4 agents with target-self, shared bridge, concatenated sequences of
            maxlen 300, degenerate policy, GAE across each mini-batch, one step per mini-batch)
Measured (best of `repeats`): bridge epoch samples/s (rating MSE steps, with each mode's bridge
weights: sampled joint actions / the mean weights), policy samples/s (one collection pass + the
PPO update over it: `ppo_epochs` = 4 passes of minibatch steps for marco, one step per
collection mini-batch for parity), prediction pairs/s (deterministic weights, batches of 4,096).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
import typer

from rlrec.bench import machine_info, write_bench
from rlrec.crossdomain.domains import DomainsConfig, SplitConfig, build_task, domain_interactions
from rlrec.crossdomain.inputs import parity_inputs, per_domain_inputs
from rlrec.crossdomain.marco import Marco, MarcoConfig, parity_config
from rlrec.crossdomain.mf import MFConfig, fit_mf
from rlrec.data import DataConfig, load_dataset
from rlrec.data.synthetic import SyntheticConfig

__all__ = ["bench", "bench_marco"]


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench(n_users: int = 2_000, n_items: int = 1_000, repeats: int = 3, seed: int = 0) -> dict:
    syn = SyntheticConfig(
        seed=seed, n_users=n_users, n_items=n_items, n_domains=4, ratings_per_user=30, overlap=0.6
    )
    ds = load_dataset(DataConfig(name="synthetic-amazon", synthetic=syn))
    inter = domain_interactions(ds, DomainsConfig())
    task = build_task(inter, "Books", 0.2, seed, SplitConfig())
    mf_cfg = MFConfig(epochs=3, batch_size=2048)
    mfs = {}
    for d in [*task.sources, task.target]:
        ratings = task.target_mf_ratings() if d == task.target else task.ratings[d]
        mfs[d] = fit_mf(ratings, task.n_users, task.n_items(d), mf_cfg, seed)
    train, test = task.target_ratings("train"), task.target_ratings("test")
    modes: dict[str, Any] = {}
    for mode in ("marco", "parity"):
        cfg = MarcoConfig() if mode == "marco" else parity_config(MarcoConfig())
        inputs = (
            per_domain_inputs(task, mfs)
            if mode == "marco"
            else parity_inputs(
                task,
                mfs,
                cfg.parity_seq_len,
                3.0,
                cfg.target_self,
                0.1,
                torch.Generator().manual_seed(seed),
            )
        )
        model = Marco(cfg, inputs, seed)
        assert model.policy is not None
        t_bridge = _best(lambda m=model: m.bridge_epoch(train, m.bridge_mode), repeats)
        t_policy = _best(
            lambda m=model: m.policy.update(m.collect(train), m.gen),
            repeats,  # type: ignore[union-attr]
        )
        t_pred = _best(lambda m=model: m.predict(test.user, test.item), repeats)
        modes[mode] = {
            "agents": inputs.n_agents,
            "seq_len": int(inputs.seqs.shape[-1]),
            "bridge_samples_per_s": len(train) / t_bridge,
            "policy_samples_per_s": len(train) / t_policy,
            "predict_pairs_per_s": len(test) / t_pred,
            "seconds": {"bridge_epoch": t_bridge, "policy_epoch": t_policy, "predict": t_pred},
        }
    return {
        "benchmark": "marco",
        "setup": {
            "n_users": n_users,
            "n_items_per_domain": n_items,
            "target": "Books",
            "train_ratings": len(train),
            "test_ratings": len(test),
            "batch_size": MarcoConfig().batch_size,
            "repeats": repeats,
        },
        "modes": modes,
        "speedup_marco_over_parity": {
            k: modes["marco"][k] / modes["parity"][k]
            for k in ("bridge_samples_per_s", "policy_samples_per_s", "predict_pairs_per_s")
        },
        "torch_threads": torch.get_num_threads(),
        "machine": machine_info(),
    }


def bench_marco(
    out: Path = Path("runs/bench/marco.json"),
    n_users: int = 2_000,
    n_items: int = 1_000,
    repeats: int = 3,
) -> None:
    """`rlrec bench marco`: training samples/s and prediction throughput, MARCO vs parity."""
    result = bench(n_users=n_users, n_items=n_items, repeats=repeats)
    write_bench(out, result)
    for mode, fig in result["modes"].items():
        typer.echo(
            f"{mode:>7}: bridge {fig['bridge_samples_per_s']:,.0f} samples/s, policy "
            f"{fig['policy_samples_per_s']:,.0f} samples/s, predict "
            f"{fig['predict_pairs_per_s']:,.0f} pairs/s"
        )
    typer.echo(f"written: {out}")
