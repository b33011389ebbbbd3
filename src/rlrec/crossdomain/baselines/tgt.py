"""TGT: the target-domain MF alone (PTUPCDR's "TgtOnly"; docs/marco.md#baselines).

Cold-start users never rated a target item, so their rows are the MF's initial draws: this is the
floor every transfer method should beat. Same tables as the target MF the other methods use.
"""

from __future__ import annotations

import numpy as np

from rlrec.crossdomain.mf import MF

__all__ = ["TGT"]


class TGT:
    def __init__(self, target_mf: MF) -> None:
        self.mf = target_mf

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.mf.predict(users, items)
