"""REMIT-style single-agent weighting (Sun et al., AAAI'23; docs/marco.md#baselines).

REMIT weights several bridged "interests" with one RL agent. Here the interests are the source
domains: ONE agent reads the centralised state s and outputs all n logits (Gaussian, softmax
weights), trained with the same one-step clipped PPO and a critic V(s) (mappo.py, `single`),
instead of one agent per domain. REMIT's meta-path interests need a HIN the data do not have.
(The released REMIT policy never receives a gradient: its stored actions are detached; this one
does.)
"""

from __future__ import annotations

from rlrec.crossdomain.marco import MarcoConfig

__all__ = ["remit_config"]


def remit_config(cfg: MarcoConfig) -> MarcoConfig:
    return cfg.model_copy(update={"weighting": "single-agent"})
