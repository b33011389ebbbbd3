"""The LLM agents as evaluation policies (the in-context baselines' table)."""

import numpy as np
import pytest

from rlrec.interactive.evaluate import EvaluationConfig, evaluate_policy, summarize
from rlrec.interactive.llm.policy import AgentPolicy
from tests.interactive.test_agent import make_agent, tiny_world


@pytest.fixture
def world():
    """The agent tests' tiny world with its 3 train users as the test users."""
    w = tiny_world()
    w.rewards["test"] = w.rewards["train"]
    w.users["test"] = np.array([1, 2, 3])
    return w


@pytest.mark.parametrize("mode", ["actonly", "react", "reflexion", "billp"])
def test_agent_policy_runs_the_protocol_and_reports_its_cost(world, tmp_path, mode):
    policy = AgentPolicy(make_agent(world, tmp_path, mode=mode))
    cfg = EvaluationConfig(n_users=3, seeds=[0])
    out = summarize(evaluate_policy(policy, world, cfg))
    cost = policy.cost()
    # exactly one agent step per recommendation of every still-running episode
    assert cost["steps"] == pytest.approx(out["Len"]["mean"] * 3)
    assert cost["tokens_per_step"] > 0 and cost["llm_calls_per_step"] >= 1
    assert policy.name == f"llm-{mode}"
    if mode in ("reflexion", "billp"):
        assert len(policy.agent.reflections) == 3  # one reflection per finished episode


def test_agent_policy_respects_the_no_repeat_mode(world, tmp_path):
    policy = AgentPolicy(make_agent(world, tmp_path, mode="actonly"))
    cfg = EvaluationConfig(n_users=3, seeds=[0], mode="fixed-k", k=8)
    out = summarize(evaluate_policy(policy, world, cfg))  # raises if a banned item is chosen
    assert out["Len"]["mean"] == 8


def test_cost_counts_every_module_even_from_the_cache(world, tmp_path):
    cfg = EvaluationConfig(n_users=3, seeds=[0], mode="fixed-k", k=4)
    costs = {}
    for mode in ("actonly", "billp", "billp"):  # the second billp run answers from the cache
        policy = AgentPolicy(make_agent(world, tmp_path, mode=mode))
        evaluate_policy(policy, world, cfg)
        costs.setdefault(mode, []).append(policy.cost()["tokens_per_step"])
    assert costs["billp"][0] > costs["actonly"][0]  # planner and critic calls on top of the actor
    assert costs["billp"][1] == costs["billp"][0]
