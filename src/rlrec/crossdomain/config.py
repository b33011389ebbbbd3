"""The MARCO experiment config: one YAML under `configs/marco/`, plus `key=value` overrides.

Sections: data (which dataset), domains (genre -> domain mapping), split (cold-start protocol),
mf (per-domain pretraining), marco (MARCO and the variants on its trainer), emcdr, evaluation
(ranking protocol) and study (targets x betas x methods x seeds).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from rlrec.config import Config
from rlrec.crossdomain.baselines.emcdr import EMCDRConfig
from rlrec.crossdomain.domains import DomainsConfig, SplitConfig
from rlrec.crossdomain.marco import MarcoConfig
from rlrec.crossdomain.methods import MethodSettings
from rlrec.crossdomain.mf import MFConfig
from rlrec.data import DataConfig

__all__ = ["EvaluationConfig", "MarcoExperimentConfig", "StudyConfig"]


class EvaluationConfig(Config):
    """Ranking metrics on sampled candidates (evaluate.py)."""

    n_negatives: int = Field(99, ge=1, description="unrated target items per cold-start user")
    relevance_threshold: float = Field(3.0, description="a relevant test item has rating > this")
    ks: list[int] = Field(default_factory=lambda: [10, 20], description="cut-offs K")


class StudyConfig(Config):
    """`rlrec experiment marco`: the grid it runs."""

    targets: list[str] | None = Field(None, description="target domains (default: every domain)")
    betas: list[float] = Field(default_factory=lambda: [0.2, 0.5, 0.8], description="cold ratios")
    seeds: list[int] = Field(
        default_factory=lambda: [900, 1000, 10, 2020, 500], description="seeds (split + training)"
    )
    methods: list[str] = Field(
        default_factory=lambda: [
            "marco",
            "marco-parity",
            "uniform",
            "remit",
            "ptupcdr",
            "ptupcdr-each",
            "emcdr",
            "cmf",
            "tgt",
        ],
        description="methods (crossdomain.methods); -each expands per source",
    )
    references: list[str] = Field(
        default_factory=lambda: [
            "global-mean",
            "item-mean",
            "warm",
            "oracle",
            "ideal-all",
            "ideal-each",
        ],
        description="reference rows (crossdomain.references); oracle and ideal-* only on "
        "synthetic data with a planted truth",
    )
    entropy_grid: list[float] = Field(
        default_factory=lambda: [1e-3, 0.15],
        description="lambda_H values of the RL methods, chosen on validation "
        "(the release sweeps 1e-4, 1e-3, 0.15, 1.5, 10)",
    )


class MarcoExperimentConfig(Config):
    """A MARCO experiment: run directory, data, protocol, methods and study grid."""

    name: str = Field("marco", description="run name; the run directory is <runs_dir>/<name>")
    seed: int = Field(0, description="seed of the entry point (each task uses its study seed)")
    runs_dir: Path = Field(Path("runs"), description="parent folder of run directories")
    data: DataConfig = Field(default_factory=DataConfig, description="dataset (ml-100k, amazon)")
    domains: DomainsConfig = Field(default_factory=DomainsConfig, description="domains")
    split: SplitConfig = Field(default_factory=SplitConfig, description="cold-start split")
    mf: MFConfig = Field(default_factory=MFConfig, description="per-domain MF pretraining")
    marco: MarcoConfig = Field(default_factory=MarcoConfig, description="MARCO")
    emcdr: EMCDRConfig = Field(default_factory=EMCDRConfig, description="EMCDR's mapping")
    evaluation: EvaluationConfig = Field(
        default_factory=EvaluationConfig, description="ranking protocol"
    )
    study: StudyConfig = Field(default_factory=StudyConfig, description="the grid")

    def method_settings(self) -> MethodSettings:
        return MethodSettings(
            marco=self.marco,
            mf=self.mf,
            emcdr=self.emcdr,
            split=self.split,
            entropy_grid=list(self.study.entropy_grid),
        )
