"""The evaluation protocol of every interactive policy (IL-Rec / BiLLP,
docs/ilrec.md#evaluation-protocol).

- Users: the standard 100 test users, BiLLP's rule: the sorted test-split users shuffled with
  `random.Random(233)`, first 100 (`worldmodel.standard_users`); the list is saved with each run.
- One episode per user, all users stepped together in the vectorised environment; actions
  sampled (`greedy=False`, the papers' protocol) or greedy; repeated for several seeds and
  reported as mean ± std over seeds.
- Modes: `free` (the environment's quit rule, repeats allowed), `no-repeat` (items already
  recommended in the episode are forbidden to the policy), `fixed-k` (no repeats, no quitting,
  exactly k turns). `evaluate_modes` runs `free` and `no-repeat` side by side (a policy that
  wins `free` by cycling a few good items shows it in `no-repeat`); the second mode's metrics
  are keyed `<metric> [<mode>]` (`mode_key`).
- Metrics per seed (the terminal step is counted, as in the IL-Rec release and DORL):
    Len     mean episode length
    R_traj  mean episode return
    R_each  total reward / total length, pooled over episodes (= R_traj / Len)
    coverage  distinct items recommended over all episodes / catalogue size
  plus `Len_excl` / `R_traj_excl` without the quitting step (BiLLP's LLM numbers count only
  non-quit steps), termination-reason counts, and the DORL names `len_tra`, `R_tra`, `ctr` as
  aliases of Len, R_traj, R_each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
from pydantic import Field

from rlrec.config import Config
from rlrec.interactive.env import QuitConfig, Reason, VectorRecEnv
from rlrec.interactive.world.worldmodel import WorldModel, standard_users

METRICS = ("Len", "R_each", "R_traj", "Len_excl", "R_traj_excl", "coverage")
ALIASES = {"len_tra": "Len", "R_tra": "R_traj", "ctr": "R_each"}


class EvaluationConfig(Config):
    """How policies are evaluated on the test split of a world model."""

    n_users: int = Field(100, ge=1, description="standard test users (BiLLP: 100)")
    user_seed: int = Field(233, description="shuffle seed of the standard users (BiLLP: 233)")
    seeds: list[int] = Field([0, 1, 2, 3, 4], min_length=1, description="evaluation seeds")
    mode: Literal["free", "no-repeat", "fixed-k"] = Field("free", description="evaluation mode")
    k: int = Field(10, ge=1, description="episode length of the fixed-k mode")
    greedy: bool = Field(False, description="greedy actions instead of sampled ones")
    quit: QuitConfig = Field(default_factory=QuitConfig, description="the user's quit rule")


@dataclass
class Observation:
    """What a policy sees for a batch of B users in one step."""

    users: np.ndarray  # [B] rows of the split's reward matrix
    window_items: np.ndarray  # [B, W] last W recommended items, oldest first, -1 = none yet
    window_rewards: np.ndarray  # [B, W] their rewards (0 where none)
    turn: np.ndarray  # [B] steps taken so far in the episode
    recommended: np.ndarray  # [B, I] bool, items recommended so far in the episode
    banned: np.ndarray | None = None  # [B, I] bool, items the evaluation mode forbids
    active: np.ndarray | None = None  # [B] bool, episodes still running (others are ignored)

    @property
    def n_items(self) -> int:
        return self.recommended.shape[1]


class Policy(Protocol):
    name: str

    def act(self, obs: Observation, rng: np.random.Generator, greedy: bool = False) -> np.ndarray:
        """[B] item ids; must avoid `obs.banned` when it is given. A policy may also define
        `observe(actions, rewards, done, reasons, active)`, called after every step."""
        ...


@dataclass
class EpisodeStats:
    """Raw outcome of one evaluation seed: one entry per episode."""

    lengths: np.ndarray
    returns: np.ndarray
    last_rewards: np.ndarray
    reasons: np.ndarray
    items: set[int] = field(default_factory=set)


def run_episodes(
    policy: Policy,
    env: VectorRecEnv,
    rows: np.ndarray,
    rng: np.random.Generator,
    greedy: bool,
    forbid_repeats: bool,
) -> EpisodeStats:
    """One episode per user row, all stepped together until every episode has ended. Forbidding
    repeats, an episode that has recommended the whole catalogue ends there, truncated as at
    max_turns (no item is left to recommend)."""
    n = len(rows)
    env.reset(rows)
    lengths = np.zeros(n, dtype=np.int64)
    returns = np.zeros(n, dtype=np.float64)
    last = np.zeros(n, dtype=np.float64)
    reasons = np.full(n, -1, dtype=np.int64)
    items: set[int] = set()
    active = np.ones(n, dtype=bool)
    while True:
        recommended = env.recommended_mask()
        if forbid_repeats:
            exhausted = active & recommended.all(1)
            reasons[exhausted] = Reason.MAX_TURN
            active &= ~exhausted
        if not active.any():
            break
        obs = Observation(
            users=rows,
            window_items=env.window_items(),
            window_rewards=env.window_rewards(),
            turn=env.turn.copy(),
            recommended=recommended,
            banned=recommended & active[:, None] if forbid_repeats else None,
            active=active.copy(),
        )
        actions = np.asarray(policy.act(obs, rng, greedy), dtype=np.int64)
        if forbid_repeats and recommended[np.arange(n)[active], actions[active]].any():
            raise RuntimeError(f"policy {policy.name!r} recommended a forbidden item")
        rewards, done, step_reasons = env.step(actions)
        if hasattr(policy, "observe"):  # policies that learn in context (the LLM agents)
            policy.observe(actions, rewards, done, step_reasons, active)
        items.update(actions[active].tolist())
        lengths += active
        returns += np.where(active, rewards, 0.0)
        last = np.where(active, rewards, last)
        ended = active & done
        reasons[ended] = step_reasons[ended]
        active &= ~done
    return EpisodeStats(lengths, returns, last, reasons, items)


def episode_metrics(stats: EpisodeStats, n_items: int) -> dict[str, float]:
    """The metrics of one seed from its episodes (see the module docstring)."""
    quit_step = stats.reasons != Reason.MAX_TURN
    len_excl = stats.lengths - quit_step
    ret_excl = stats.returns - np.where(quit_step, stats.last_rewards, 0.0)
    metrics = {
        "Len": float(stats.lengths.mean()),
        "R_traj": float(stats.returns.mean()),
        "R_each": float(stats.returns.sum() / max(stats.lengths.sum(), 1)),
        "Len_excl": float(len_excl.mean()),
        "R_traj_excl": float(ret_excl.mean()),
        "coverage": len(stats.items) / n_items,
    }
    for reason in Reason:
        if reason != Reason.CONTINUE:
            metrics[f"quit_{reason.name.lower()}"] = float((stats.reasons == reason).sum())
    return metrics


def evaluate_policy(
    policy: Policy, world: WorldModel, cfg: EvaluationConfig, users: np.ndarray | None = None
) -> dict[str, list[float]]:
    """Evaluate `policy` on the test split: {metric: [value per seed]} (aliases included),
    plus "lengths": per seed, the length of every episode (for distributions)."""
    rows = _user_rows(world, cfg, users)
    quit_cfg = cfg.quit
    if cfg.mode == "fixed-k":
        quit_cfg = quit_cfg.model_copy(update={"quit": False, "max_turns": cfg.k})
    env = VectorRecEnv(
        world.rewards["test"],
        world.distances("test"),
        world.threshold("test"),
        quit_cfg,
        track_history=True,
    )
    per_seed: dict[str, list] = {}
    for seed in cfg.seeds:
        rng = np.random.default_rng(seed)
        stats = run_episodes(policy, env, rows, rng, cfg.greedy, cfg.mode != "free")
        for key, value in episode_metrics(stats, world.n_items).items():
            per_seed.setdefault(key, []).append(value)
        per_seed.setdefault("lengths", []).append(stats.lengths.tolist())
    for alias, metric in ALIASES.items():
        per_seed[alias] = per_seed[metric]
    return per_seed


PAIRED_METRICS = ("Len", "R_each", "R_traj", "coverage")  # shown for the second mode


def mode_key(metric: str, mode: str) -> str:
    """The key of a metric measured in the second evaluation mode, e.g. "R_traj [no-repeat]"."""
    return f"{metric} [{mode}]"


def other_mode(mode: str) -> str | None:
    """The mode shown beside `mode` (free <-> no-repeat; none for fixed-k)."""
    return {"free": "no-repeat", "no-repeat": "free"}.get(mode)


def evaluate_modes(
    policy: Policy, world: WorldModel, cfg: EvaluationConfig, users: np.ndarray | None = None
) -> dict[str, list[float]]:
    """`evaluate_policy` in `cfg.mode`, plus, for free / no-repeat, the headline metrics
    (Len, R_each, R_traj, coverage) of the other of the two under `mode_key` names."""
    return add_other_mode(evaluate_policy(policy, world, cfg, users), policy, world, cfg, users)


def add_other_mode(
    per_seed: dict[str, list],
    policy: Policy,
    world: WorldModel,
    cfg: EvaluationConfig,
    users: np.ndarray | None = None,
) -> dict[str, list]:
    """`per_seed` (measured in `cfg.mode`) with the other mode's headline metrics added, unless
    it has them already (results cached before they were measured get them here)."""
    second = other_mode(cfg.mode)
    if second is None or mode_key("R_traj", second) in per_seed:
        return per_seed
    extra = evaluate_policy(policy, world, cfg.model_copy(update={"mode": second}), users)
    return {**per_seed, **{mode_key(m, second): extra[m] for m in PAIRED_METRICS}}


def _user_rows(world: WorldModel, cfg: EvaluationConfig, users: np.ndarray | None) -> np.ndarray:
    test_ids = np.asarray(world.users["test"])
    chosen = standard_users(test_ids, cfg.n_users, cfg.user_seed) if users is None else users
    row_of = {u: i for i, u in enumerate(test_ids.tolist())}
    return np.asarray([row_of[u] for u in np.asarray(chosen).tolist()], dtype=np.int64)


def summarize(per_seed: dict[str, list]) -> dict[str, dict[str, float]]:
    """{metric: {"mean", "std"}} over seeds (population std; 0 for one seed); per-episode
    entries ("lengths") are left out."""
    return {
        k: {"mean": float(np.mean(v)), "std": float(np.std(v))}
        for k, v in per_seed.items()
        if k != "lengths"
    }
