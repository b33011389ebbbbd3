"""PTUPCDR: personalised bridges trained on target ratings (Zhu et al., WSDM'22;
docs/marco.md#personalised-bridge, docs/marco.md#baselines).

It is MARCO's bridge without the weighting, so it runs on MARCO's trainer:
    ptupcdr[<domain>]  one source domain: e = u^d W^d(S^d), y_hat = <e, v_j> (the original)
    ptupcdr            the sources combined: ONE bridge whose user vector is [u^1; ...; u^n]
                       (W in R^{nk x k}) and whose encoder attends over all the sources'
                       sequences together (inputs.joint_inputs)
"""

from __future__ import annotations

from rlrec.crossdomain.baselines.uniform import uniform_config
from rlrec.crossdomain.domains import CrossDomainTask
from rlrec.crossdomain.inputs import AgentInputs, joint_inputs, per_domain_inputs
from rlrec.crossdomain.marco import MarcoConfig
from rlrec.crossdomain.mf import MF

__all__ = ["ptupcdr_setup"]


def ptupcdr_setup(
    task: CrossDomainTask, mfs: dict[str, MF], cfg: MarcoConfig, source: str | None
) -> tuple[MarcoConfig, AgentInputs]:
    """(config, inputs) of PTUPCDR on one `source`, or on all sources combined (None)."""
    cfg = uniform_config(cfg)  # one bridge (or several, averaged), no weighting policy
    if source is None:
        return cfg, joint_inputs(task, mfs)
    return cfg, per_domain_inputs(task, mfs, [source])
