"""Baseline policies for the interactive environment.

- `heuristics`: random, popularity, greedy on the world model, oracle (no learning);
- one file per learned baseline, each readable beside its paper: `bc`, `dqn`, `sqn`, `bcq`,
  `cql`, `crr`, `a2c`, `dorl`. Each pairs an `XConfig` with a learner `X(world, cfg, seed, data)`
  that implements `training.Learner`, so `training.fit` trains, checkpoints and resumes any of
  them and `evaluate.evaluate_policy(learner.policy(), ...)` scores them like every method.

`BASELINES` maps each name to (config class, learner class, data source):
- "simulator": learns by playing episodes in the train-split simulator (DQN, A2C, DORL);
- "logs": learns offline from the train users' logged sessions (`offline_data.
  logged_transitions`), or from the demonstrations with `offline_source: demos`
  (SQN, BCQ, CQL, CRR);
- "demos": learns from the demonstrations (`offline_data.demo_transitions`): BC.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rlrec.config import Config
from rlrec.errors import ConfigError
from rlrec.interactive.experience.transitions import Transitions
from rlrec.interactive.learners.baselines.a2c import A2C, A2CConfig
from rlrec.interactive.learners.baselines.bc import BC, BCConfig
from rlrec.interactive.learners.baselines.bcq import BCQ, BCQConfig
from rlrec.interactive.learners.baselines.cql import CQL, CQLConfig
from rlrec.interactive.learners.baselines.crr import CRR, CRRConfig
from rlrec.interactive.learners.baselines.dorl import DORL, DORLConfig
from rlrec.interactive.learners.baselines.dqn import DQN, DQNConfig
from rlrec.interactive.learners.baselines.sqn import SQN, SQNConfig
from rlrec.interactive.learners.training import Learner
from rlrec.interactive.world.worldmodel import WorldModel

__all__ = ["BASELINES", "BaselinesConfig", "make_baseline"]

Source = Literal["simulator", "logs", "demos"]

BASELINES: dict[str, tuple[type[Config], type, Source]] = {
    "bc": (BCConfig, BC, "demos"),
    "dqn": (DQNConfig, DQN, "simulator"),
    "sqn": (SQNConfig, SQN, "logs"),
    "bcq": (BCQConfig, BCQ, "logs"),
    "cql": (CQLConfig, CQL, "logs"),
    "crr": (CRRConfig, CRR, "logs"),
    "a2c": (A2CConfig, A2C, "simulator"),
    "dorl": (DORLConfig, DORL, "simulator"),
}


class BaselinesConfig(Config):
    """The settings of every learned baseline (an experiment YAML's `baselines:` section)."""

    offline_source: Literal["logs", "demos"] = Field(
        "logs", description="dataset of SQN, BCQ, CQL and CRR: logged sessions or demonstrations"
    )
    bc: BCConfig = Field(default_factory=BCConfig, description="behaviour cloning")
    dqn: DQNConfig = Field(default_factory=DQNConfig, description="DQN in the simulator")
    sqn: SQNConfig = Field(default_factory=SQNConfig, description="SQN, offline")
    bcq: BCQConfig = Field(default_factory=BCQConfig, description="discrete BCQ, offline")
    cql: CQLConfig = Field(default_factory=CQLConfig, description="CQL, offline")
    crr: CRRConfig = Field(default_factory=CRRConfig, description="CRR, offline")
    a2c: A2CConfig = Field(default_factory=A2CConfig, description="A2C in the simulator")
    dorl: DORLConfig = Field(default_factory=DORLConfig, description="DORL in the simulator")


def data_source(name: str, cfg: BaselinesConfig) -> Source:
    """Where baseline `name` learns from under `cfg`."""
    source = BASELINES[name][2]
    return cfg.offline_source if source == "logs" else source


def make_baseline(
    name: str,
    world: WorldModel,
    cfg: BaselinesConfig,
    seed: int,
    logged: Transitions | None = None,
    demos: Transitions | None = None,
) -> Learner:
    """The learner of baseline `name`, given the datasets it may need."""
    if name not in BASELINES:
        raise ConfigError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")
    _, learner_cls, _ = BASELINES[name]
    source = data_source(name, cfg)
    data = {"simulator": None, "logs": logged, "demos": demos}[source]
    if source != "simulator" and (data is None or len(data) == 0):
        what = "logged sessions" if source == "logs" else "demonstrations"
        raise ConfigError(
            f"baseline {name!r} learns offline from the {what}, but none were given"
            + (" (or set baselines.offline_source)" if name != "bc" else "")
        )
    return learner_cls(world, getattr(cfg, name), seed, data)
