"""The IL-Rec side of an experiment's config: the stage configs that the IL-Rec stages, the
study and the reference policies read (`InteractiveConfig`), and the study's own (`StudyConfig`).

`rlrec.experiment.ExperimentConfig` extends `InteractiveConfig` with MARCO; the IL-Rec modules
type their config with the class here, which sits below all of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from rlrec.config import Config
from rlrec.data.config import DataConfig
from rlrec.errors import ConfigError
from rlrec.interactive.evaluate import EvaluationConfig
from rlrec.interactive.learners.baselines import BASELINES, BaselinesConfig
from rlrec.interactive.learners.ilrec import ILRecConfig
from rlrec.interactive.llm.agent import AgentConfig
from rlrec.interactive.llm.backends import LLMConfig
from rlrec.interactive.world.world_builder import WorldModelConfig

ABLATIONS: dict[str, dict[str, Any]] = {
    "w/o w": {"use_weights": False},
    "w/o w_env": {"alpha": 0.0},
    "w/o w_IRL": {"alpha": 1.0},
    "w/o r_IRL": {"lambda_irl": 0.0},
    "w/o demos": {"use_demos": False},
}
ILREC_VARIANTS = {
    "il-rec": {},
    "il-rec (paper weighting)": {"weighting": "paper"},  # mean-1 weights, A_demo on demo returns
    "il-rec (parity)": {"mode": "parity"},
} | {f"il-rec {name}": change for name, change in ABLATIONS.items()}


class StudyConfig(Config):
    """Which methods the IL-Rec experiment runs, with how many seeds and what budget."""

    seeds: list[int] = Field([0, 1, 2, 3, 4], min_length=1, description="training seeds")
    methods: list[str] = Field(
        default_factory=lambda: [
            "il-rec",
            "il-rec (paper weighting)",
            "il-rec (parity)",
            *BASELINES,
        ],
        description="il-rec, 'il-rec (paper weighting)', 'il-rec (parity)' and baseline names "
        "(bc, dqn, sqn, ...)",
    )
    ablations: list[str] = Field(
        default_factory=lambda: list(ABLATIONS), description=f"of {list(ABLATIONS)}"
    )
    heuristics: list[str] = Field(
        ["random", "popularity", "greedy"], description="reference rows (no learning)"
    )
    llm_expert: Literal["live", "demos", "none"] = Field(
        "live", description="live: evaluate the LLM agent; demos: the demonstrations' returns"
    )
    llm_users: int = Field(20, ge=1, description="standard test users for the live LLM expert")
    llm_seeds: list[int] = Field([0], min_length=1, description="seeds of the live LLM expert")
    offline_updates: int = Field(5000, ge=1, description="budget of the offline learners")
    checkpoint_every: int = Field(2000, ge=1, description="units between checkpoints")
    demos: Path | None = Field(
        None, description="demonstration store (JSONL); default <run>/demos/<mode>-<actor>.jsonl"
    )

    def methods_to_run(self) -> list[str]:
        known = set(ILREC_VARIANTS) | set(BASELINES)
        chosen = [*self.methods, *(f"il-rec {a}" for a in self.ablations)]
        unknown = [m for m in chosen if m not in known]
        if unknown:
            raise ConfigError(
                f"study: unknown method(s) {unknown}; known: {', '.join(ILREC_VARIANTS)}, "
                f"{', '.join(BASELINES)}; ablations: {', '.join(ABLATIONS)}"
            )
        return list(dict.fromkeys(chosen))


class InteractiveConfig(Config):
    """An experiment's IL-Rec side: where its run goes, its seed, and the config of each stage."""

    name: str = Field("default", description="run name; the run directory is <runs_dir>/<name>")
    seed: int = Field(0, description="seed of every random choice in the run")
    runs_dir: Path = Field(Path("runs"), description="parent folder of run directories")
    data: DataConfig = Field(default_factory=DataConfig, description="which dataset and how")
    worldmodel: WorldModelConfig = Field(
        default_factory=WorldModelConfig, description="the simulated user (IL-Rec side)"
    )
    evaluation: EvaluationConfig = Field(
        default_factory=EvaluationConfig, description="how interactive policies are evaluated"
    )
    llm: LLMConfig = Field(default_factory=LLMConfig, description="the LLM behind the expert")
    agent: AgentConfig = Field(
        default_factory=AgentConfig, description="the LLM expert that writes demonstrations"
    )
    demo_users: int | None = Field(
        None, ge=1, description="train users the LLM expert writes demonstrations for (all: null)"
    )
    llm_train_users: int = Field(
        0,
        ge=0,
        description="train users each LLM agent plays before it is evaluated, filling its "
        "memories (BiLLP gives its LLM baselines 100; the first of them are the demo users)",
    )
    ilrec: ILRecConfig = Field(default_factory=ILRecConfig, description="IL-Rec's learner")
    baselines: BaselinesConfig = Field(
        default_factory=BaselinesConfig, description="the learned RL baselines"
    )
    study: StudyConfig = Field(
        default_factory=StudyConfig, description="`rlrec experiment ilrec`: methods, seeds"
    )


__all__ = ["ABLATIONS", "ILREC_VARIANTS", "InteractiveConfig", "StudyConfig"]
