"""CMF: collective matrix factorisation (Singh & Gordon, KDD'08; docs/marco.md#baselines).

One user table shared by every domain, one item table per domain (stacked with offsets), fit on
all source ratings plus the target ratings the target MF may see (cold users' target ratings
excluded). A cold user's vector is learned from its source ratings alone.
"""

from __future__ import annotations

import numpy as np

from rlrec.crossdomain.domains import CrossDomainTask, Ratings
from rlrec.crossdomain.mf import MF, MFConfig, fit_mf

__all__ = ["CMF", "fit_cmf"]


class CMF:
    def __init__(self, mf: MF, target_offset: int) -> None:
        self.mf, self.offset = mf, target_offset

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.mf.predict(users, np.asarray(items) + self.offset)


def fit_cmf(task: CrossDomainTask, cfg: MFConfig, seed: int) -> CMF:
    domains = [*task.sources, task.target]
    offsets = np.cumsum([0] + [task.n_items(d) for d in domains])
    parts = [task.ratings[d] for d in task.sources] + [task.target_mf_ratings()]
    merged = Ratings(
        np.concatenate([p.user for p in parts]),
        np.concatenate([p.item + offsets[k] for k, p in enumerate(parts)]),
        np.concatenate([p.rating for p in parts]),
        np.concatenate([p.timestamp for p in parts]),
    )
    mf = fit_mf(merged, task.n_users, int(offsets[-1]), cfg, seed)
    return CMF(mf, int(offsets[-2]))
