"""Calibrating one split of a learned world model to an LLM agent's recorded run (BiLLP protocol).

BiLLP (docs/ilrec.md#world-model-and-environment) uses two worlds: a *train* matrix that produced
the demonstrations and drives training, and a separate *test* matrix for evaluation, on different
scales (its released Amazon train run sees continuous rewards averaging about 3.1; its test run
integer ratings 1-5 averaging about 4.5). A learned world (`world_builder`) has one rating model for
both; this module turns that model into each of BiLLP's two worlds by fitting a few parameters of
the world to a recorded run of the same agent in that world — never a table of recorded (user, item)
pairs:

1. the rating link from the learned model's score s (the logit of reward / 5 for implicit
   feedback, the stars otherwise) to the world's reward:
   - `continuous`: r = clip(a s + b, 0, 5); (a, b) by least squares between the sorted recorded
     rewards and the sorted scores of the same pairs (quantile-quantile regression), so the
     world reproduces the recorded reward distribution while keeping the model's order;
   - `integer`: ordinal cut points c_1 <= ... <= c_{K-1}: r = lo + #{k : s >= c_k}, with c_k
     midway between the n_k-th and (n_k+1)-th smallest recorded score, n_k the number of
     recorded ratings below lo + k (an ordered model of the rating levels, as in ordinal
     regression: the world gives the recorded pairs the recorded share of each level);
2. the low-reward line l of the quit rule "reward < l": BiLLP's LLM environment never checks
   step 1 (docs/ilrec.md#the-llm-environment-of-billp) and hides the reward of the quit step, so
   every recorded continuing step after the first has a reward >= l, and the likelihood of the run
   grows with l up to the smallest such reward. The configured line is kept when the run is
   consistent with it, else the line is lowered to that smallest reward;
3. the distance threshold t of the rule "distance to one of the last W items < t": the world's
   item distances on each checked recorded step (steps >= 2, the quit step included) are
   compared with t, and t is set so that the rule fires on as many recorded steps as the run
   has quits (the quit hazard per checked step matched, after the steps that the low-reward
   line or a repeat already ends). The rule fires at most where the run's quits are.

Each calibration reports, on the recorded pairs, the recorded and the simulated reward per step,
the share below 2, and the replay of the recorded item sequences under the calibrated rule
(where the simulated user would have quit; a replay cannot outlast its recording, so its mean
length is at most the recorded one, equal only when the rule fires exactly on the recorded quit
steps), the length 1 + checked steps / firings that a policy quitting at the fitted per-step
rate would have, and the mean episode length of a random policy in the calibrated world
(seeded). `calibration_stage` makes it a cached stage of a run.
"""

from __future__ import annotations

import ast
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from rlrec.atomic import write_json, write_text
from rlrec.config import Config
from rlrec.errors import ConfigError, DataError

if TYPE_CHECKING:
    from rlrec.data.dataset import Dataset
    from rlrec.interactive.world.worldmodel import WorldModel
    from rlrec.runs import Run

__all__ = [
    "CalibrationConfig",
    "Recorded",
    "apply_link",
    "base_scores",
    "calibrate_split",
    "calibration_stage",
    "fit_affine",
    "fit_cuts",
    "fit_distance_threshold",
    "fit_low_reward",
    "format_report",
    "load_recorded",
    "replay_lengths",
    "rule_fires",
]

log = logging.getLogger("rlrec")

LOW_LINE = 2.0  # the share-below line every report shows (BiLLP's quit line)
_HISTORY = re.compile(r"viewing history is (\[.*\]), please", re.S)  # at its start


class CalibrationConfig(Config):
    """One split's calibration to a recorded BiLLP run."""

    trajectories: str = Field(
        description="BiLLP trajs_agent file recorded in this split's world (its users are "
        "this split's users; ones the world lacks take the split user with the most shared "
        "history items, else the split's mean user)"
    )
    scale: Literal["continuous", "integer"] = Field(
        "continuous", description="continuous: affine link, clipped to 0-5; integer: ordinal cuts"
    )
    levels: tuple[int, int] = Field((1, 5), description="integer scale: lowest and highest rating")
    random_users: int = Field(100, ge=1, description="users of the report's random-policy check")
    seed: int = Field(0, description="seed of the report's random-policy check")


# -- the recorded run, coded against a world -----------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """One row per recorded step, in trajectory order.

    traj    [N] trajectory index           step  [N] 1-based step number
    col     [N] world column, -1 if the title is not in the catalogue
    reward  [N] recorded reward, NaN on the quit step (BiLLP hides it)
    quit    [N] the step is the quit step
    row     [M] world row of each trajectory's user, -1 for the split's mean user
    """

    traj: np.ndarray
    step: np.ndarray
    col: np.ndarray
    reward: np.ndarray
    quit: np.ndarray
    row: np.ndarray
    users: dict[str, int]

    @property
    def lengths(self) -> np.ndarray:
        """Recorded steps per trajectory, the quit step included."""
        return np.bincount(self.traj, minlength=len(self.row))


def load_recorded(path: str | Path, world: WorldModel, ds: Dataset, split: str) -> Recorded:
    """Parse a BiLLP trajs_agent file and code its steps and users against `world`'s split."""
    from rlrec.interactive.demos.billp_trajs import parse_billp_file
    from rlrec.interactive.text.grounding import exact_lookup, normalise_title

    _, trajs = parse_billp_file(path)
    if "title" not in world.items.columns:
        raise DataError("calibrating to a recorded run needs item titles in the world model")
    col_of = dict(zip(world.items["item_id"].tolist(), range(world.n_items), strict=True))
    exact, normalised = exact_lookup(world.items)
    rows = _user_rows(trajs, world, ds, split, exact, normalised)
    columns: dict[str, list] = {k: [] for k in ("traj", "step", "col", "reward", "quit")}
    for k, traj in enumerate(trajs):
        for t, s in enumerate(traj.steps, start=1):
            item = exact.get(s.executed_title, normalised.get(normalise_title(s.executed_title)))
            columns["traj"].append(k)
            columns["step"].append(t)
            columns["col"].append(col_of.get(item, -1) if item is not None else -1)
            columns["reward"].append(np.nan if s.quit else s.observed_reward)
            columns["quit"].append(s.quit)
    if not columns["traj"]:
        raise DataError(f"{path}: no recorded steps to calibrate with")
    return Recorded(
        traj=np.asarray(columns["traj"], np.int64),
        step=np.asarray(columns["step"], np.int64),
        col=np.asarray(columns["col"], np.int64),
        reward=np.asarray(columns["reward"], np.float64),
        quit=np.asarray(columns["quit"], bool),
        row=rows[0],
        users=rows[1],
    )


def _user_rows(trajs, world, ds, split, exact, normalised) -> tuple[np.ndarray, dict[str, int]]:
    """The world row of each trajectory's user: own row, most shared history items, or -1."""
    from rlrec.interactive.text.grounding import normalise_title

    ids = np.asarray(world.users[split])
    row_of = {u: i for i, u in enumerate(ids.tolist())}
    inter = ds.interactions[ds.interactions["user_id"].isin(ids)]
    user_items = inter.groupby("user_id")["item_id"].agg(frozenset).to_dict()
    rows, counts = np.full(len(trajs), -1, np.int64), {"own": 0, "history": 0, "mean_user": 0}
    for k, traj in enumerate(trajs):
        if traj.user in row_of:
            rows[k], counts["own"] = row_of[traj.user], counts["own"] + 1
            continue
        titles = _history_titles(traj.prompt)
        items = {exact.get(t, normalised.get(normalise_title(t))) for t in titles} - {None}
        best = max(user_items.items(), key=lambda kv: (len(kv[1] & items), -kv[0]), default=None)
        if best is not None and items and len(best[1] & items):
            rows[k], counts["history"] = row_of[best[0]], counts["history"] + 1
        else:
            counts["mean_user"] += 1
    return rows, counts


def _history_titles(prompt: str) -> list[str]:
    """The titles of BiLLP's "The user's viewing history is [...]" line (a Python literal)."""
    start = prompt.rfind("viewing history is [")  # the last one: few-shot examples come first
    m = _HISTORY.match(prompt, start) if start >= 0 else None
    if m is None:
        return []
    try:
        titles = ast.literal_eval(m.group(1))
    except (ValueError, SyntaxError):
        return []
    return [str(t) for t in titles] if isinstance(titles, list) else []


# -- the rating link -----------------------------------------------------------------------------


def base_scores(rewards: np.ndarray, implicit: bool) -> np.ndarray:
    """The learned model's score behind its 0-5 reward: logit(r / 5) (implicit), else r."""
    r = np.asarray(rewards, dtype=np.float64)
    if not implicit:
        return r
    p = np.clip(r / 5.0, 1e-6, 1.0 - 1e-6)
    return np.log(p) - np.log1p(-p)


def fit_affine(scores: np.ndarray, targets: np.ndarray) -> tuple[float, float]:
    """(a, b) of the least-squares line through the sorted (score, target) pairs (Q-Q fit)."""
    s, y = np.sort(scores), np.sort(targets)
    if len(s) < 2 or np.ptp(s) == 0:
        return 0.0, float(np.mean(y))
    a, b = np.polyfit(s, y, 1)
    return float(a), float(b)


def fit_cuts(scores: np.ndarray, targets: np.ndarray, levels: tuple[int, int]) -> np.ndarray:
    """Ordinal cut points: c_k midway between the n_k-th and (n_k+1)-th smallest score, n_k =
    recorded ratings below lo + k (beyond the ends when n_k is 0 or all)."""
    lo, hi = levels
    if not len(scores):
        raise DataError("no recorded rewards to fit the rating levels to")
    s = np.sort(scores)
    y = np.clip(np.rint(targets), lo, hi)
    counts = [int(np.sum(y < lo + k)) for k in range(1, hi - lo + 1)]
    return np.array([_between(s, n) for n in counts])


def _between(sorted_values: np.ndarray, n: int) -> float:
    """A cut with exactly n of `sorted_values` below it: midway between neighbours."""
    if n <= 0:
        return float(np.nextafter(sorted_values[0], -np.inf))
    if n >= len(sorted_values):
        return float(np.nextafter(sorted_values[-1], np.inf))
    return float((sorted_values[n - 1] + sorted_values[n]) / 2.0)


def apply_link(scores: np.ndarray, link: dict[str, Any]) -> np.ndarray:
    """World rewards (float32) from model scores under a fitted link (`fit_link`'s dict)."""
    if link["scale"] == "integer":
        lo = link["levels"][0]
        r = lo + np.searchsorted(np.asarray(link["cuts"]), scores, side="right")
        return r.astype(np.float32)
    return np.clip(link["a"] * scores + link["b"], 0.0, 5.0).astype(np.float32)


def fit_link(scores: np.ndarray, targets: np.ndarray, cfg: CalibrationConfig) -> dict[str, Any]:
    if cfg.scale == "integer":
        cuts = fit_cuts(scores, targets, cfg.levels)
        return {"scale": "integer", "levels": list(cfg.levels), "cuts": cuts.tolist()}
    a, b = fit_affine(scores, targets)
    return {"scale": "continuous", "a": a, "b": b}


# -- the quit rule -------------------------------------------------------------------------------


def fit_low_reward(reward: np.ndarray, step: np.ndarray, configured: float) -> float:
    """The largest line consistent with the recorded continuing steps after step 1, capped at
    `configured`: BiLLP's LLM environment ends a checked step whose reward is below it."""
    checked = reward[(step >= 2) & np.isfinite(reward)]
    return float(min(configured, checked.min())) if len(checked) else float(configured)


def window_distances(
    rec: Recorded, embeddings: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per step: the smallest distance to the previous `window` grounded items of its
    trajectory (inf if none), and whether the item repeats one of them."""
    n = len(rec.col)
    nearest, repeat = np.full(n, np.inf), np.zeros(n, bool)
    for lag in range(1, window + 1):
        prev = np.arange(n) - lag
        ok = (prev >= 0) & (rec.col >= 0)
        ok[ok] &= (rec.traj[prev[ok]] == rec.traj[ok]) & (rec.col[prev[ok]] >= 0)
        a, h = rec.col[ok], rec.col[prev[ok]]
        dist = np.linalg.norm(embeddings[a] - embeddings[h], axis=1)
        nearest[ok] = np.minimum(nearest[ok], dist)
        repeat[ok] |= a == h
    return nearest, repeat


def rule_fires(
    low: np.ndarray, nearest: np.ndarray, repeat: np.ndarray, threshold: float, checked: np.ndarray
) -> np.ndarray:
    """The environment's quit rule on each step: low reward, repeat, or distance < threshold."""
    return checked & (low | repeat | (nearest < threshold))


def fit_distance_threshold(
    nearest: np.ndarray, already: np.ndarray, checked: np.ndarray, n_quits: int
) -> float:
    """The threshold at which the rule fires on `n_quits` checked steps in all, `already` ones
    (low reward, repeat) counted: midway between the n-th and (n+1)-th nearest distances."""
    need = n_quits - int((already & checked).sum())
    d = np.sort(nearest[checked & ~already & np.isfinite(nearest)])
    if need <= 0 or not len(d):
        return 0.0
    return _between(d, need)


def replay_lengths(traj: np.ndarray, step: np.ndarray, fires: np.ndarray, n: int) -> np.ndarray:
    """Steps each recorded item sequence lasts under the rule: first firing step, else its end."""
    lengths = np.bincount(traj, minlength=n).astype(np.int64)
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, traj[fires], step[fires])
    return np.minimum(lengths, first)


def random_lengths(
    rewards: np.ndarray,
    embeddings: np.ndarray,
    threshold: float,
    low_reward: float,
    rng: np.random.Generator,
    users: int,
    window: int = 4,
    max_turns: int = 100,
) -> np.ndarray:
    """Episode lengths of a uniform random policy under the evaluation rule (step 1 checked)."""
    rows = rng.integers(0, rewards.shape[0], users)
    alive, lengths = np.ones(users, bool), np.zeros(users, np.int64)
    past = np.full((users, window), -1)
    for _ in range(max_turns):
        items = rng.integers(0, rewards.shape[1], users)
        d = np.linalg.norm(embeddings[items][:, None] - embeddings[np.maximum(past, 0)], axis=2)
        near = ((d < threshold) | (past == items[:, None])) & (past >= 0)
        quit_ = (rewards[rows, items] < low_reward) | near.any(1)
        lengths += alive
        alive &= ~quit_
        past = np.roll(past, 1, axis=1)
        past[:, 0] = items
        if not alive.any():
            break
    return lengths


# -- one split ------------------------------------------------------------------------------------


def calibrate_split(
    rec: Recorded,
    rewards: np.ndarray,
    embeddings: np.ndarray,
    implicit: bool,
    cfg: CalibrationConfig,
    low_reward: float = LOW_LINE,
    window: int = 4,
) -> dict[str, Any]:
    """Fit the link, line and threshold of one split to `rec`; returns the fit and its report."""
    grounded = rec.col >= 0
    row_scores = _pair_scores(rec, rewards, implicit)
    observed = grounded & np.isfinite(rec.reward)
    link = fit_link(row_scores[observed], rec.reward[observed], cfg)
    simulated = np.where(grounded, apply_link(row_scores, link), np.nan)
    line = fit_low_reward(rec.reward, rec.step, low_reward)
    nearest, repeat = window_distances(rec, embeddings, window)
    checked = (rec.step >= 2) & grounded
    low = np.nan_to_num(simulated, nan=np.inf) < line
    n_quits = int(rec.quit[checked].sum())
    threshold = fit_distance_threshold(nearest, low | repeat, checked, n_quits)
    fires = rule_fires(low, nearest, repeat, threshold, checked)
    fit = {"link": link, "low_reward": line, "distance_threshold": threshold, "window": window}
    report = _report(rec, simulated, fires, checked, fit)
    return {"fit": fit, "report": report}


def _pair_scores(rec: Recorded, rewards: np.ndarray, implicit: bool) -> np.ndarray:
    """The model's score of every recorded (user, item) step; NaN where ungrounded."""
    mean_user = np.asarray(rewards.mean(0)) if (rec.row < 0).any() else None
    out = np.full(len(rec.col), np.nan)
    ok = rec.col >= 0
    rows, cols = rec.row[rec.traj[ok]], rec.col[ok]
    base = np.where(rows >= 0, np.asarray(rewards)[np.maximum(rows, 0), cols], np.nan)
    if mean_user is not None:
        base = np.where(rows >= 0, base, mean_user[cols])
    out[ok] = base_scores(base, implicit)
    return out


def _report(
    rec: Recorded, simulated: np.ndarray, fires: np.ndarray, checked: np.ndarray, fit: dict
) -> dict[str, Any]:
    observed = np.isfinite(rec.reward) & np.isfinite(simulated)
    lengths = rec.lengths
    replay = replay_lengths(rec.traj, rec.step, fires, len(rec.row))
    quit_fires = fires & rec.quit
    fired_at_end = np.bincount(rec.traj[quit_fires], minlength=len(rec.row)) > 0
    per_step = (
        pd.DataFrame({"step": np.minimum(rec.step, 10), "rec": rec.reward, "sim": simulated})
        .loc[observed]
        .groupby("step")
        .agg(n=("rec", "size"), recorded=("rec", "mean"), simulated=("sim", "mean"))
    )
    quit_sim = simulated[rec.quit & np.isfinite(simulated)]
    return {
        "trajectories": len(rec.row),
        "steps": len(rec.col),
        "ungrounded_steps": int((rec.col < 0).sum()),
        "users": rec.users,
        "reward_per_step": {
            str(s) if s < 10 else "10+": {k: round(float(v), 4) for k, v in row.items()}
            for s, row in per_step.iterrows()
        },
        "reward": {
            "recorded_mean": float(np.mean(rec.reward[observed])),
            "simulated_mean": float(np.mean(simulated[observed])),
            "correlation": _corr(rec.reward[observed], simulated[observed]),
            "recorded_below_2": float(np.mean(rec.reward[observed] < LOW_LINE)),
            "simulated_below_2": float(np.mean(simulated[observed] < LOW_LINE)),
            "simulated_quit_step_mean": float(np.mean(quit_sim)) if len(quit_sim) else None,
        },
        "length": {
            "recorded_mean": float(lengths.mean()),
            "recorded_rewarded_steps_mean": float(np.isfinite(rec.reward).sum() / len(rec.row)),
            "replay_mean": float(replay.mean()),
            "hazard_mean": 1.0 + float(checked.sum()) / max(1, int(fires.sum())),
            "replay_quits_at_recorded_quit": float(np.mean((replay == lengths) & fired_at_end)),
            "replay_quits_earlier": float(np.mean(replay < lengths)),
            "replay_never_quits": float(np.mean(~_any_fire(rec, fires))),
        },
        "rule": {
            "checked_steps": int(checked.sum()),
            "recorded_quits": int((rec.quit & checked).sum()),
            "simulated_fires": int(fires.sum()),
            "fires_on_quit_steps": int(quit_fires.sum()),
        },
        "recorded_R_traj": float(
            np.bincount(rec.traj, np.nan_to_num(rec.reward), len(rec.row)).mean()
        ),
        **fit,
    }


def _any_fire(rec: Recorded, fires: np.ndarray) -> np.ndarray:
    return np.bincount(rec.traj[fires], minlength=len(rec.row)) > 0


def _corr(x: np.ndarray, y: np.ndarray) -> float | None:
    if len(x) < 2 or np.std(x) == 0 or np.std(y) == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


# -- a world's splits ------------------------------------------------------------------------------


def calibrate_world(
    world: WorldModel,
    ds: Dataset,
    calibration: dict[str, CalibrationConfig],
    low_reward: float = LOW_LINE,
    run: Run | None = None,
    base_params: dict[str, Any] | None = None,
) -> WorldModel:
    """Turn each configured split of a learned world into its calibrated world, in place.

    With a `run`, each split is the cached stage `calibration-<split>` (keyed by the base
    world's parameters `base_params`, the recorded file and this config), whose folder holds
    `calibration.json` and `report.md`; a cached fit is applied without refitting.
    """
    for split, cfg in calibration.items():
        if split not in world.rewards:
            raise ConfigError(f"calibration for unknown split {split!r}; splits: train, test")
        if run is None:
            result = fit_split(world, ds, split, cfg, low_reward)
        else:
            result = calibration_stage(run, world, ds, split, cfg, low_reward, base_params or {})
        apply_fit(world, split, result["fit"])
        if result["fit"]["low_reward"] < low_reward:
            log.warning(
                "calibration %s: the recorded run continues after a reward of %.4g, below the "
                "quit line %.4g; the line fitted to it is %.4g", split,
                result["fit"]["low_reward"], low_reward, result["fit"]["low_reward"],
            )  # fmt: skip
        world.meta.setdefault("calibration", {})[split] = {
            "fit": result["fit"],
            "report": result["report"],
        }
        log.info("calibration %s:\n%s", split, format_report(split, result["report"]))
    return world


def fit_split(
    world: WorldModel, ds: Dataset, split: str, cfg: CalibrationConfig, low_reward: float
) -> dict[str, Any]:
    """Fit one split to its recorded run and check the result with a seeded random policy."""
    if world.item_embeddings is None:
        raise DataError("calibration needs a learned world's item embeddings")
    rec = load_recorded(cfg.trajectories, world, ds, split)
    implicit = bool(world.meta.get("implicit"))
    result = calibrate_split(
        rec, world.rewards[split], world.item_embeddings, implicit, cfg, low_reward
    )
    fit = result["fit"]
    rewards = apply_link(base_scores(world.rewards[split], implicit), fit["link"])
    lengths = random_lengths(
        rewards, world.item_embeddings, fit["distance_threshold"], fit["low_reward"],
        np.random.default_rng(cfg.seed), cfg.random_users, window=fit["window"],
    )  # fmt: skip
    result["report"]["world"] = {
        "mean_reward": float(rewards.mean()),
        "below_2": float(np.mean(rewards < LOW_LINE)),
        "random_policy_len": float(lengths.mean()),
        "seed": cfg.seed,
    }
    fit["implicit"] = implicit
    return result


def apply_fit(world: WorldModel, split: str, fit: dict[str, Any]) -> None:
    """Replace `split`'s rewards by the calibrated ones and set its own distance threshold."""
    scores = base_scores(world.rewards[split], fit["implicit"])
    world.rewards[split] = apply_link(scores, fit["link"])
    world.thresholds[split] = float(fit["distance_threshold"])
    world.meta.setdefault("low_reward", {})[split] = fit["low_reward"]


def calibration_stage(
    run: Run,
    world: WorldModel,
    ds: Dataset,
    split: str,
    cfg: CalibrationConfig,
    low_reward: float,
    base_params: dict[str, Any],
) -> dict[str, Any]:
    """`fit_split` as the cached stage `calibration-<split>` of `run`."""
    stage = run.stage(
        f"calibration-{split}",
        params={
            "calibration": cfg.model_dump(mode="json"),
            "low_reward": low_reward,
            "split": split,
            "world": base_params,
        },
        inputs={"trajectories": cfg.trajectories},
    )
    if stage.cached:
        return json.loads(stage.path("calibration.json").read_text(encoding="utf-8"))
    result = fit_split(world, ds, split, cfg, low_reward)
    files = [
        write_json(stage.path("calibration.json"), result),
        write_text(stage.path("report.md"), format_report(split, result["report"]) + "\n"),
    ]
    stage.complete(files, summary={"fit": result["fit"], "length": result["report"]["length"]})
    return result


def format_report(split: str, r: dict[str, Any]) -> str:
    """The calibration report as Markdown: fit, reward per step, share below 2, replay."""
    link = r["link"]
    if link["scale"] == "integer":
        cuts = ", ".join(f"{c:.3f}" for c in link["cuts"])
        link_text = f"integer ratings {link['levels'][0]}-{link['levels'][1]}, cuts [{cuts}]"
    else:
        link_text = f"continuous, r = clip({link['a']:.4f} s + {link['b']:.4f}, 0, 5)"
    rw, ln, rule = r["reward"], r["length"], r["rule"]
    lines = [
        f"## Calibration of the {split} world",
        "",
        f"{r['trajectories']} recorded trajectories, {r['steps']} steps "
        f"({r['ungrounded_steps']} not in the catalogue); users: {r['users']}.",
        f"Fit: {link_text}; low-reward line {r['low_reward']:.4g}; "
        f"distance threshold {r['distance_threshold']:.4f} (window {r['window']}).",
        "",
        "| step | n | recorded reward | simulated reward |",
        "|---|---|---|---|",
        *(
            f"| {s} | {int(v['n'])} | {v['recorded']:.3f} | {v['simulated']:.3f} |"
            for s, v in r["reward_per_step"].items()
        ),
        "",
        "| | recorded | simulated |",
        "|---|---|---|",
        f"| mean reward | {rw['recorded_mean']:.3f} | {rw['simulated_mean']:.3f} |",
        f"| share below 2 | {rw['recorded_below_2']:.3f} | {rw['simulated_below_2']:.3f} |",
        f"| Len, replayed (stops at the recorded end) | {ln['recorded_mean']:.2f} "
        f"| {ln['replay_mean']:.2f} |",
        f"| Len, 1 + checked steps / firings | {ln['recorded_mean']:.2f} "
        f"| {ln['hazard_mean']:.2f} |",
        "",
        f"Correlation recorded/simulated reward per step: {_num(rw['correlation'])}; simulated "
        f"reward of the quit steps: {_num(rw['simulated_quit_step_mean'])}; recorded R_traj "
        f"(quit step unrewarded): {r['recorded_R_traj']:.2f}.",
        f"Replay under the calibrated rule: {ln['replay_quits_at_recorded_quit']:.0%} of the "
        f"trajectories quit exactly at their recorded quit step, {ln['replay_quits_earlier']:.0%} "
        f"earlier, {ln['replay_never_quits']:.0%} never; the rule fires on "
        f"{rule['simulated_fires']} of {rule['checked_steps']} checked steps "
        f"({rule['fires_on_quit_steps']} of the {rule['recorded_quits']} recorded quits).",
    ]
    if "world" in r:
        w = r["world"]
        lines.append(
            f"Whole world: mean reward {w['mean_reward']:.3f}, share below 2 {w['below_2']:.3f}; "
            f"a random policy lasts {w['random_policy_len']:.2f} steps (seed {w['seed']})."
        )
    return "\n".join(lines)


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"
