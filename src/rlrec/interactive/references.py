"""The reference policies evaluated beside the learners, by name: the heuristics (`random`,
`popularity`, `greedy`, `oracle`, ...) and the LLM expert in one of its modes (`llm-<mode>`),
with the train episodes the LLM expert plays before it is evaluated or writes demonstrations.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlrec.data.dataset import Dataset
from rlrec.interactive.env import QuitConfig
from rlrec.interactive.experiment_config import InteractiveConfig
from rlrec.interactive.learners.baselines.heuristics import make_heuristic
from rlrec.interactive.world.worldmodel import WorldModel

LLM_POLICIES = ("llm-actonly", "llm-react", "llm-reflexion", "llm-billp")


def reference_policy(name: str, world: WorldModel, ds: Dataset, cfg: InteractiveConfig) -> Any:
    """A heuristic by name, or `llm-<mode>`: the LLM expert of `cfg.llm` / `cfg.agent`, after
    `cfg.llm_train_users` train episodes when its mode learns in context."""
    if name in LLM_POLICIES:
        from rlrec.interactive.llm.generate import build_agent, train_agent
        from rlrec.interactive.llm.policy import AgentPolicy

        agent_cfg = cfg.agent.model_copy(update={"mode": name.removeprefix("llm-")})
        agent = build_agent(world, cfg.llm, agent_cfg, cfg.seed)
        if cfg.llm_train_users and agent.learns_in_context:
            train_agent(world, agent, *expert_episodes(cfg, world, cfg.llm_train_users))
        return AgentPolicy(agent)
    return make_heuristic(name, world, ds.interactions, cfg.evaluation.quit.low_reward)


def expert_episodes(
    cfg: InteractiveConfig, world: WorldModel, users: int | None
) -> tuple[list[int], QuitConfig]:
    """(train rows, quit rule) of the LLM expert's train episodes, for demonstrations and for
    the LLM baselines' training phase alike: the first `users` rows of a seeded order (all if
    None), and BiLLP's LLM environment, which does not check the quit rule on the first step
    (docs/ilrec.md#the-llm-environment-of-billp)."""
    rows = np.random.default_rng(cfg.seed).permutation(len(world.users["train"]))
    rows = rows if users is None else rows[:users]
    quit = QuitConfig(**{**cfg.evaluation.quit.model_dump(), "check_first_step": False})
    return rows.tolist(), quit


__all__ = ["LLM_POLICIES", "expert_episodes", "reference_policy"]
