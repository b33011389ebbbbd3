"""Uniform average of the bridged source embeddings: MARCO without the MARL weighting
(docs/marco.md#ablations, w/o MARL): y_hat = <(1/n) sum_d e^d, v_j>, bridges trained end to end
on rating MSE for MARCO's warm-up + epochs."""

from __future__ import annotations

from rlrec.crossdomain.marco import MarcoConfig

__all__ = ["uniform_config"]


def uniform_config(cfg: MarcoConfig) -> MarcoConfig:
    return cfg.model_copy(update={"weighting": "uniform"})
