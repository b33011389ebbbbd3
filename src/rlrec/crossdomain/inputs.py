"""What each agent (bridge input) sees: user vectors, sequence item vectors and masks, as dense
tensors so that one batch of (user, item) pairs is a handful of gathers
(docs/marco.md#positive-sequences,
docs/marco.md#agents-observations-and-state).

    per_domain  one agent per source domain: u^d from domain d's MF, domain d's own positive
                sequence looked up in domain d's item table (the paper; default)
    joint       ONE agent whose user vector is the concatenation [u^1; ...; u^n] and whose
                sequence is the concatenation of the per-domain sequences (combined PTUPCDR)
    parity      the release: every source agent reads ONE concatenated sequence in a global
                source-item space, looked up in its own domain's table, so other domains' items
                hit untrained rows (N(0, init_std) draws, as an unused MF row would be); item 0
                of that space is masked as padding, a real item; optionally a first
                "target-self" agent: the target MF user row (untrained for cold users) and the
                target item table indexed by source ids (modulo its size)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from rlrec.crossdomain.domains import CrossDomainTask, concat_sequences
from rlrec.crossdomain.mf import MF

__all__ = ["AgentInputs", "joint_inputs", "parity_inputs", "per_domain_inputs"]


@dataclass
class AgentInputs:
    """Tensors for n agents: user [n, U, d_in], table [T, k], seqs / mask [n_co, n, L]."""

    names: list[str]
    user: Tensor
    table: Tensor
    seqs: Tensor
    mask: Tensor
    co_row: Tensor  # [U] global user -> row of seqs (-1: not an overlapping user)
    target_item: Tensor  # [I_t + 1, k] frozen target item table
    target_offset: Tensor  # [I_t + 1] the target MF's item offsets (mu + b_j; 0 without biases)

    @property
    def n_agents(self) -> int:
        return len(self.names)

    def gather(self, users: Tensor, items: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(u [B, n, d_in], seqs [B, n, L] rows of `table`, mask [B, n, L], v [B, k])."""
        rows = self.co_row[users]
        return (
            self.user[:, users].transpose(0, 1),
            self.seqs[rows],
            self.mask[rows],
            self.target_item[items],
        )


def _table_and_offsets(tables: list[Tensor]) -> tuple[Tensor, np.ndarray]:
    """Stack item tables (each without its pad row) plus one shared zero pad row at the end."""
    offsets = np.cumsum([0] + [len(t) for t in tables])
    k = tables[0].shape[1]
    return torch.cat([*tables, torch.zeros(1, k)]), offsets


def per_domain_inputs(
    task: CrossDomainTask, mfs: dict[str, MF], sources: list[str] | None = None
) -> AgentInputs:
    """One agent per source domain (`sources`: a subset, e.g. single-source PTUPCDR)."""
    sources = list(task.sources if sources is None else sources)
    tables = [mfs[d].item[:-1] for d in sources]
    table, offsets = _table_and_offsets(tables)
    pad = int(offsets[-1])
    seqs = np.stack(
        [
            np.where(s == task.n_items(d), pad, s + offsets[k])
            for k, d in enumerate(sources)
            for s in [task.seqs[d]]
        ],
        axis=1,
    )
    seqs_t = torch.as_tensor(seqs)
    return AgentInputs(
        names=sources,
        user=torch.stack([mfs[d].user for d in sources]),
        table=table,
        seqs=seqs_t,
        mask=seqs_t != pad,
        co_row=torch.as_tensor(task.co_row),
        target_item=mfs[task.target].item,
        target_offset=mfs[task.target].offset,
    )


def joint_inputs(task: CrossDomainTask, mfs: dict[str, MF]) -> AgentInputs:
    """One agent over all sources: concatenated user vectors and sequences."""
    one = per_domain_inputs(task, mfs)
    n_co = one.seqs.shape[0]
    return dataclasses.replace(
        one,
        names=["+".join(task.sources)],
        user=torch.cat(list(one.user), dim=-1).unsqueeze(0),
        seqs=one.seqs.reshape(n_co, 1, -1),
        mask=one.mask.reshape(n_co, 1, -1),
    )


def parity_inputs(
    task: CrossDomainTask,
    mfs: dict[str, MF],
    seq_len: int,
    threshold: float,
    target_self: bool,
    init_std: float,
    gen: torch.Generator,
) -> AgentInputs:
    concat = concat_sequences(task, seq_len, threshold)  # [n_co, L]
    sizes = [task.n_items(d) for d in task.sources]
    offsets = np.cumsum([0, *sizes])
    n_src = int(offsets[-1])
    blocks, users, names = [], [], []
    if target_self:
        tgt_items = mfs[task.target].item[:-1]
        blocks.append(tgt_items[torch.arange(n_src) % len(tgt_items)])
        users.append(mfs[task.target].user)
        names.append(f"{task.target} (target-self)")
    k = mfs[task.target].item.shape[1]
    for d_idx, d in enumerate(task.sources):
        block = torch.randn(n_src, k, generator=gen) * init_std
        block[offsets[d_idx] : offsets[d_idx + 1]] = mfs[d].item[:-1]
        blocks.append(block)
        users.append(mfs[d].user)
        names.append(d)
    table = torch.cat([*blocks, torch.zeros(1, k)])
    pad = len(table) - 1
    real = (concat != n_src) & (concat != 0)  # the release masks id 0, a real item
    seqs = np.stack(
        [np.where(concat == n_src, pad, concat + a * n_src) for a in range(len(names))], 1
    )
    return AgentInputs(
        names=names,
        user=torch.stack(users),
        table=table,
        seqs=torch.as_tensor(seqs),
        mask=torch.as_tensor(np.repeat(real[:, None, :], len(names), axis=1)),
        co_row=torch.as_tensor(task.co_row),
        target_item=mfs[task.target].item,
        target_offset=mfs[task.target].offset,
    )
