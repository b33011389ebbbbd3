"""EMCDR: a linear map from source to target user embeddings (Man et al., IJCAI'17;
docs/marco.md#baselines).

    min_M  mean_u || [u^1; ...; u^n] M - u^t ||^2     over the training overlapping users
M is `Linear(n k, k, bias=False)` (one source: the release's Linear(k, k)); sources combined =
their embeddings concatenated. Full-batch Adam; the step count is chosen on the validation users'
target-rating MAE. Prediction for a cold user: <[u^1; ...] M, v_j^t> + c_j (c_j: the target
MF's item offset, mf.py).
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field

from rlrec.config import Config
from rlrec.crossdomain.domains import CrossDomainTask
from rlrec.crossdomain.mf import MF

__all__ = ["EMCDR", "EMCDRConfig", "fit_emcdr"]


class EMCDRConfig(Config):
    """The mapping's training."""

    lr: float = Field(1e-2, gt=0, description="Adam learning rate")
    steps: int = Field(300, ge=1, description="full-batch steps")
    eval_every: int = Field(10, ge=1, description="validation check interval (steps)")


class EMCDR:
    def __init__(self, mfs: dict[str, MF], sources: list[str], target: str, m: torch.Tensor):
        self.x = torch.cat([mfs[d].user for d in sources], -1)
        self.v, self.c, self.m = mfs[target].item, mfs[target].offset, m

    @torch.no_grad()
    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        u, i = self.x[torch.as_tensor(users)] @ self.m, torch.as_tensor(items)
        return ((u * self.v[i]).sum(-1) + self.c[i]).numpy()


def fit_emcdr(
    task: CrossDomainTask, mfs: dict[str, MF], sources: list[str], cfg: EMCDRConfig, seed: int
) -> EMCDR:
    gen = torch.Generator().manual_seed(seed)
    k = mfs[task.target].user.shape[1]
    train = torch.as_tensor(task.users["train"])
    x = torch.cat([mfs[d].user for d in sources], -1)[train]
    y = mfs[task.target].user[train]
    bound = 1 / np.sqrt(x.shape[1])
    m = torch.nn.Parameter(torch.empty(x.shape[1], k).uniform_(-bound, bound, generator=gen))
    opt = torch.optim.Adam([m], lr=cfg.lr)
    val = task.target_ratings("val")
    model = EMCDR(mfs, sources, task.target, m.detach())
    best = (float("inf"), m.detach().clone())
    for step in range(1, cfg.steps + 1):
        loss = (x @ m - y).pow(2).sum(-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % cfg.eval_every == 0 or step == cfg.steps:
            model.m = m.detach()
            mae = (
                float(np.abs(model.predict(val.user, val.item) - val.rating).mean())
                if len(val)
                else -step
            )
            if mae < best[0]:
                best = (mae, m.detach().clone())
    model.m = best[1]
    return model
