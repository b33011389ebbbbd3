"""DORL: A2C on a penalised world-model reward, against the Matthew effect of offline RL.

Gao, Wang, Li, Cai, Chen, Sun, Tang, He & Jiang, "Alleviating Matthew Effect of Offline
Reinforcement Learning in Interactive Recommendation", SIGIR 2023, §4 (the penalised reward of
the learned simulator), as the released `SimulatedEnv._compute_pred_reward` computes it
(docs/ilrec.md#dorl). The policy is the A2C of `a2c.py` unchanged; only its training reward differs:

    r~(u, a) = max(0, r^(u, a) - lambda_variance U(u, a) + lambda_entropy H(window) - min_reward)

- r^(u, a): the world model's reward (the train reward matrix);
- U(u, a): the world model's uncertainty, the variance across its ensemble members
  (`world.uncertainty["train"]`; DORL uses the maximum variance) - the MOPO-style penalty;
- H(window): the entropy (natural log) of the empirical distribution of the item ids in the
  last W recommended items *including* a (the state's window after the action; empty
  positions ignored): -sum_i p_i log p_i with p_i = count_i / (number of items in the window).
  W distinct items give log W; it rewards diverse recent recommendations (DORL's entropy
  penalty counters the Matthew effect; DORL computes it over item categories or ids);
- min_reward: DORL's MIN_R offset (0 by default).

Defaults lambda_variance = 0.05 and lambda_entropy = 0.05 (DORL's KuaiRand setting uses
(0.01, 0.05) and KuaiRec (0.05, 5)). Not implemented: DORL's division by
(1 + exposure effect), which its released configs switch off with a zero exposure weight.
The simulator's quit rule and the reported returns use the plain world-model reward.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from rlrec.errors import ConfigError
from rlrec.interactive.experience.transitions import PAD, Transitions
from rlrec.interactive.learners.baselines.a2c import A2C, A2CConfig
from rlrec.interactive.world.worldmodel import WorldModel


class DORLConfig(A2CConfig):
    """DORL = A2C + uncertainty and entropy terms in the training reward."""

    lambda_variance: float = Field(0.05, ge=0, description="lambda_var: uncertainty penalty")
    lambda_entropy: float = Field(0.05, ge=0, description="lambda_ent: window-entropy bonus")
    min_reward: float = Field(0.0, description="MIN_R subtracted before clipping at 0")


def window_entropy(items: np.ndarray) -> np.ndarray:
    """[N] entropy of the item ids in each window [N, W] (PAD ignored; 0 for empty ones).

    With c_j the count of the item at position j among the n valid positions,
    H = -sum_items p log p = -(1/n) sum_j log(c_j / n)."""
    valid = items != PAD
    same = (items[:, :, None] == items[:, None, :]) & valid[:, :, None] & valid[:, None, :]
    counts = same.sum(2)  # [N, W] c_j (0 where invalid)
    n = valid.sum(1, keepdims=True)
    logs = np.where(valid, np.log(np.maximum(counts, 1) / np.maximum(n, 1)), 0.0)
    return -logs.sum(1) / np.maximum(n[:, 0], 1)


def dorl_rewards(
    rewards: np.ndarray,
    uncertainty: np.ndarray,
    entropy: np.ndarray,
    lambda_variance: float,
    lambda_entropy: float,
    min_reward: float = 0.0,
) -> np.ndarray:
    """r~ = max(0, r^ - lambda_var U + lambda_ent H - MIN_R), all [N]."""
    r = rewards - lambda_variance * uncertainty + lambda_entropy * entropy - min_reward
    return np.maximum(r, 0.0).astype(np.float32)


class DORL(A2C):
    name = "dorl"
    cfg: DORLConfig

    def __init__(
        self, world: WorldModel, cfg: DORLConfig, seed: int, data: Transitions | None = None
    ) -> None:
        if "train" not in world.uncertainty:
            raise ConfigError(
                "DORL needs an ensemble world model (its uncertainty penalty is the ensemble "
                "variance): set worldmodel.n_ensemble > 1"
            )
        super().__init__(world, cfg, seed)
        self.uncertainty = np.asarray(world.uncertainty["train"], dtype=np.float32)

    def training_rewards(self, t: Transitions) -> np.ndarray:
        next_items, _ = t.next_window()
        return dorl_rewards(
            t.rewards,
            self.uncertainty[t.users, t.actions],
            window_entropy(next_items),
            self.cfg.lambda_variance,
            self.cfg.lambda_entropy,
            self.cfg.min_reward,
        )
