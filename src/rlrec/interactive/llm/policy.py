"""The LLM expert as an evaluation policy: the in-context baselines of IL-Rec's table
(docs/ilrec.md#baselines).

`AgentPolicy` wraps an `LLMAgent` (mode `actonly`, `react`, `reflexion` or `billp`) in the
evaluation `Policy` protocol. The LLM answers one user at a time, so each step calls the agent
once per *active* episode of the batch; finished episodes are not asked. It keeps each episode's
recommended titles (the agent's "viewing history") and counts per-step latency and tokens, which
the evaluation table reports beside Len / R_each / R_traj together with the share of
recommendations the LLM chose (`llm_chosen_share`: not a fallback of the agent, nor a random
replacement of an item the evaluation mode bans), and shows a progress bar of the
episodes of each batch (an LLM step takes seconds on a CPU). The reflector and the actor/critic
memories keep filling from the evaluation episodes; BiLLP's training episodes before the test
are `llm_train_users` (`rlrec.experiment`).
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from rlrec.interactive.evaluate import Observation
from rlrec.interactive.llm.agent import LLMAgent


class AgentPolicy:
    def __init__(self, agent: LLMAgent) -> None:
        self.agent = agent
        self.name = f"llm-{agent.cfg.mode}"
        self.histories: dict[int, list[str]] = {}
        self.episodes: dict[int, list[tuple[str, float, bool]]] = {}
        self.latencies: list[float] = []  # per recommendation: LLM seconds of act + critic
        self.tokens: list[int] = []  # per recommendation: prompt + completion tokens
        self.chosen: list[bool] = []  # per recommendation: the LLM's choice was played
        self.last_step: dict[int, int] = {}  # row -> index of its latest entry above
        self.calls_before = agent.backend.usage.calls  # e.g. its training episodes
        self.progress: tqdm | None = None  # finished episodes of the current batch

    def act(self, obs: Observation, rng: np.random.Generator, greedy: bool = False) -> np.ndarray:
        actions = np.zeros(len(obs.users), dtype=np.int64)
        active = np.ones(len(obs.users), dtype=bool) if obs.active is None else obs.active
        if (obs.turn == 0).all():  # a new batch of episodes (one per evaluation seed)
            self._close_progress()
            self.progress = tqdm(total=len(obs.users), desc=f"{self.name}: test", unit="user")
        for b in np.flatnonzero(active):
            if obs.turn[b] == 0:
                self.histories[b], self.episodes[b] = [], []
            valid = obs.window_items[b] >= 0
            window = [[int(i), float(r)] for i, r in zip(
                obs.window_items[b][valid], obs.window_rewards[b][valid], strict=True
            )]  # fmt: skip
            step = self.agent.act(self.histories[b], window)
            item = int(step["item"])
            chosen = step.get("chosen_by") == "llm"
            if obs.banned is not None and obs.banned[b, item]:
                allowed = np.flatnonzero(~obs.banned[b])
                item = int(rng.choice(allowed))  # the mode forbids the LLM's pick: fall back
                chosen = False
            self.chosen.append(chosen)
            self.histories[b].append(self.agent.titles[item])
            self.last_step[b] = len(self.latencies)
            self.latencies.append(float(step.get("latency") or 0.0))
            self.tokens.append(int(step.get("tokens") or 0))
            actions[b] = item
        return actions

    def observe(
        self,
        actions: np.ndarray,
        rewards: np.ndarray,
        done: np.ndarray,
        reasons: np.ndarray,
        active: np.ndarray,
    ) -> None:
        """Feed the step back to the agent's critic and actor memories; reflect on finished
        episodes; commit the memory updates once every episode of the batch has ended."""
        from rlrec.interactive.env import Reason

        for b in np.flatnonzero(active):
            after = self.histories[b]
            title, reward, ended = after[-1], float(rewards[b]), bool(done[b])
            quit = ended and reasons[b] != Reason.MAX_TURN
            critic = self.agent.observe(after[:-1], title, reward, after, ended, quit=quit)
            self.latencies[self.last_step[b]] += float(critic.get("critic_latency") or 0.0)
            self.tokens[self.last_step[b]] += int(critic.get("critic_tokens") or 0)
            self.episodes[b].append((title, reward, ended))
            if ended:
                self.agent.reflect(self.episodes[b])
        if self.progress is not None:
            self.progress.update(int((active & done).sum()))
            self.progress.set_postfix(steps=len(self.latencies), refresh=False)
        if not (active & ~done).any():
            self.agent.commit()
            self._close_progress()

    def _close_progress(self) -> None:
        if self.progress is not None:
            self.progress.close()
            self.progress = None

    def cost(self) -> dict[str, float]:
        """Per recommendation: LLM seconds and tokens of the planner, actor and critic calls.
        A cached answer counts what the original call cost, so the figures describe the method,
        not how warm the cache was. Reflections (one per episode) are not included."""
        steps = max(len(self.latencies), 1)
        return {
            "latency_s_per_step": float(np.sum(self.latencies)) / steps,
            "tokens_per_step": float(np.sum(self.tokens)) / steps,
            "llm_calls_per_step": (self.agent.backend.usage.calls - self.calls_before) / steps,
            "llm_chosen_share": float(np.mean(self.chosen)) if self.chosen else float("nan"),
            "steps": float(len(self.latencies)),
        }
