"""The LLM agents as evaluation policies (the in-context baselines' table)."""

import numpy as np
import pytest

from rlrec.interactive.evaluate import EvaluationConfig, evaluate_policy, summarize
from rlrec.interactive.llm.policy import AgentPolicy
from tests.interactive.llm.test_agent import make_agent, tiny_world


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
    assert cost["llm_chosen_share"] == 1.0  # choice mode: every answer parses
    assert policy.name == f"llm-{mode}"
    if mode in ("reflexion", "billp"):
        assert len(policy.agent.reflections) == 3  # one reflection per finished episode


def test_agent_policy_respects_the_no_repeat_mode(world, tmp_path):
    policy = AgentPolicy(make_agent(world, tmp_path, mode="actonly"))
    cfg = EvaluationConfig(n_users=3, seeds=[0], mode="fixed-k", k=8)
    out = summarize(evaluate_policy(policy, world, cfg))  # raises if a banned item is chosen
    assert out["Len"]["mean"] == 8
    assert policy.cost()["llm_chosen_share"] == 1.0  # the agent itself never repeats


def test_agent_policy_counts_generate_fallbacks(world, tmp_path):
    """Every third answer of the fake actor does not parse: about a third are fallbacks."""
    policy = AgentPolicy(make_agent(world, tmp_path, mode="actonly", actor_mode="generate"))
    cfg = EvaluationConfig(n_users=3, seeds=[0], mode="fixed-k", k=6)
    evaluate_policy(policy, world, cfg)
    chosen = policy.agent.chosen
    assert chosen["fallback"] >= 6 and chosen["llm"] >= 6
    # a repeat is a fallback too, so the agent's own count may exceed the unparsed answers
    assert policy.cost()["llm_chosen_share"] <= chosen["llm"] / policy.agent.steps


def test_cost_counts_every_module_even_from_the_cache(world, tmp_path):
    cfg = EvaluationConfig(n_users=3, seeds=[0], mode="fixed-k", k=4)
    costs = {}
    for mode in ("actonly", "billp", "billp"):  # the second billp run answers from the cache
        policy = AgentPolicy(make_agent(world, tmp_path, mode=mode))
        evaluate_policy(policy, world, cfg)
        costs.setdefault(mode, []).append(policy.cost()["tokens_per_step"])
    assert costs["billp"][0] > costs["actonly"][0]  # planner and critic calls on top of the actor
    assert costs["billp"][1] == costs["billp"][0]


def test_training_episodes_fill_the_memories_the_test_episodes_then_use(world, tmp_path):
    """BiLLP's LLM baselines play train users first (`llm_train_users`); their memories carry
    into the test, where a fresh agent has none."""
    from rlrec.interactive.env import QuitConfig
    from rlrec.interactive.llm.generate import train_agent

    cfg = EvaluationConfig(n_users=3, seeds=[0], mode="fixed-k", k=4)
    fresh = AgentPolicy(make_agent(world, tmp_path, mode="billp"))
    evaluate_policy(fresh, world, cfg)

    agent = make_agent(world, tmp_path, mode="billp", batch_users=2)
    train_agent(world, agent, [0, 1, 2], QuitConfig(check_first_step=False, max_turns=4))
    assert len(agent.reflections) == 3  # one per training episode
    assert len(agent.actor_memory) > 0 and len(agent.critic_memory) > 0  # both batches commit
    trained = AgentPolicy(agent)
    training_calls = agent.backend.usage.calls
    evaluate_policy(trained, world, cfg)
    # the test episodes start from the training's memories: retrieved reflections in the prompt
    assert trained.cost()["tokens_per_step"] > fresh.cost()["tokens_per_step"]
    cost = trained.cost()  # the training episodes' calls are not the test's
    test_calls = agent.backend.usage.calls - training_calls
    assert training_calls > 0 and cost["llm_calls_per_step"] * cost["steps"] == test_calls
    assert make_agent(world, tmp_path, mode="react").learns_in_context is False


def test_training_episodes_on_the_demo_users_replay_the_demonstration_run(world, tmp_path):
    """The same rows, quit rule and seed as `demos generate`: every answer from the cache."""
    from rlrec.interactive.env import QuitConfig
    from rlrec.interactive.llm.generate import generate_demos, train_agent

    quit = QuitConfig(check_first_step=False, max_turns=4)
    demo_agent = make_agent(world, tmp_path, mode="billp", batch_users=2)
    generate_demos(world, demo_agent, tmp_path / "d.jsonl", users=[0, 1, 2], quit=quit)
    agent = make_agent(world, tmp_path, mode="billp", batch_users=2)
    train_agent(world, agent, [0, 1, 2], quit)
    assert agent.backend.usage.calls == demo_agent.backend.usage.calls
    assert agent.backend.usage.cache_hits == agent.backend.usage.calls


def test_evaluation_table_shows_the_llm_chosen_share(world, tmp_path):
    from rlrec import tables
    from rlrec.experiment import table_columns

    policy = AgentPolicy(make_agent(world, tmp_path, mode="react"))
    out = summarize(evaluate_policy(policy, world, EvaluationConfig(n_users=3, seeds=[0])))
    row = {"method": policy.name, **out, **policy.cost()}
    columns = table_columns([row])
    assert "llm_chosen_share" in columns and "latency_s_per_step" in columns
    assert "llm_chosen_share" in tables.to_markdown([row], columns)
    assert "llm_chosen_share" not in table_columns([{"method": "random", **out}])
