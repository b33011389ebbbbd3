"""Import BiLLP's `trajs_agent` trajectories into a demonstration store
(docs/ilrec.md#demonstrations).

A BiLLP file `{ds}_{split}_{lo}_{hi}_{model}_{temperature}_{time}.json` holds
`{user_key: {"userid", "prompt", "traj", "traj_by_line"}}`. `traj_by_line` opens with the user's
history ("The user's viewing history is [...]") and then repeats, for n = 1, 2, ...:

    Thought n: <free text>
    Action n: recommend[<title>]
    Observation n: [<title>] can not be recommened, instead, recommend[<other>]   (optional)
    Observation n: Episode continue, reward=<r>
                or Episode finished, User Stop, reward=-1000.000

The optional replacement line means BiLLP's environment did not know the LLM's title and executed
`<other>` instead: the step's item is `<other>`. The executed title is grounded to the catalogue
by exact match, then after light normalisation (case, quotes, whitespace), then, when a
`grounder` is given, by similarity; `item_grounding` counts each way.

The quit step. "User Stop, reward=-1000" is what BiLLP shows the LLM when the simulated user
leaves; -1000 is appended to the LLM's reward list but is not the user's reward for the item,
which BiLLP does not log. `terminal` chooses what the quit step becomes:
- "keep" (default, as the release): the step is kept, done=True, reason "quit", reward None
  (unknown): it is filled with the world model's reward for (user, item) when the demos are
  annotated for training, as the IL-Rec release does with `lookup_rewards`;
- "drop": the step is removed; the previous step becomes the last one (done=True, reason "quit");
- "reward_minus1000": kept with reward -1000 (BiLLP's logged value);
- "reward_zero": kept with reward 0.
A trajectory that ends without the quit marker (BiLLP's 50-step cap) ends with reason
"max_turn".

In the store, each step has: title (the LLM's title), executed_title, replaced, item (catalogue
id or None), item_grounding, grounding ("replaced" when the environment replaced the title,
else how the title was grounded), similarity, window (last 4 (item, reward) pairs), reward,
observed_reward (the number BiLLP printed), done, reason, response (the Thought and Action
lines), source (file name), and on step 0 only `prompt`: BiLLP's few-shot prompt plus the history
line (later prompts are that text followed by the previous steps' lines). tokens and latency are
None (BiLLP did not log them).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from rlrec.errors import DataError
from rlrec.interactive.demos.store import DemoStore, report
from rlrec.interactive.text.grounding import Grounder, exact_lookup, normalise_title

__all__ = ["TERMINAL_POLICIES", "import_billp_trajs", "parse_billp_file", "parse_trajectory"]

TERMINAL_POLICIES = ("keep", "drop", "reward_minus1000", "reward_zero")
WINDOW = 4  # BiLLP's quit window W
QUIT_REWARD = -1000.0

_NAME = re.compile(
    r"^(?P<dataset>[A-Za-z]+)_(?P<split>train|test)_\d+_\d+_(?P<model>.+)_"
    r"(?P<temperature>\d+(?:\.\d+)?)_\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}\.json$"
)
_LINE = re.compile(r"^(Thought|Action|Observation) (\d+): ?(.*)$", re.S)
_ACTION = re.compile(r"^recommend\[(.*)\]\s*$", re.S)
_REPLACED = re.compile(r"^\[(.*)\] can not be recommened, instead, recommend\[(.*)\]\s*$", re.S)
_REWARD = re.compile(r"^Episode (continue|finished, User Stop), reward=(-?[\d.]+(?:e-?\d+)?)\s*$")


@dataclass
class ParsedStep:
    """One (action, outcome) pair read from a trajectory."""

    title: str
    executed_title: str
    observed_reward: float
    quit: bool
    response: str


@dataclass
class ParsedTrajectory:
    user: int
    prompt: str
    steps: list[ParsedStep] = field(default_factory=list)
    skipped_lines: int = 0


def parse_trajectory(user: int, record: dict[str, Any]) -> ParsedTrajectory:
    """The steps of one BiLLP record; lines that fit no pattern are counted, not guessed."""
    lines = record.get("traj_by_line")
    if not isinstance(lines, list):
        raise DataError(f"BiLLP record for user {user} has no traj_by_line list")
    head = lines[0] if lines and not _LINE.match(lines[0]) else ""
    traj = ParsedTrajectory(user, f"{record.get('prompt', '')}{head}")
    thought, pending = "", None  # pending: [title, executed, response] of an unanswered action
    for line in lines[1 if head else 0 :]:
        m = _LINE.match(line)
        if m is None:
            traj.skipped_lines += 1
            continue
        kind, body = m.group(1), m.group(3).strip()
        if kind == "Thought":
            thought = line
        elif kind == "Action":
            a = _ACTION.match(body)
            if a is None:
                traj.skipped_lines += 1
                continue
            traj.skipped_lines += pending is not None  # an action that got no outcome
            pending = [a.group(1).strip(), a.group(1).strip(), f"{thought}\n{line}".strip()]
            thought = ""
        elif pending is None:
            traj.skipped_lines += 1
        elif r := _REPLACED.match(body):
            pending[1] = r.group(2).strip()
        elif r := _REWARD.match(body):
            quit_ = r.group(1) != "continue"
            traj.steps.append(
                ParsedStep(pending[0], pending[1], float(r.group(2)), quit_, pending[2])
            )
            pending = None
            if quit_:
                break
        else:
            traj.skipped_lines += 1
    traj.skipped_lines += pending is not None
    return traj


def parse_billp_file(path: str | os.PathLike[str]) -> tuple[dict[str, Any], list[ParsedTrajectory]]:
    """The file's settings (from its name) and its trajectories, in file order."""
    path = Path(path)
    m = _NAME.match(path.name)
    if m is None:
        raise DataError(
            f"{path.name}: not a BiLLP trajs_agent file name "
            "({dataset}_{split}_{lo}_{hi}_{model}_{temperature}_{time}.json)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"cannot read BiLLP trajectories {path}: {err}") from None
    if not isinstance(data, dict) or not all(isinstance(r, dict) for r in data.values()):
        raise DataError(f"{path}: expected {{user_key: {{userid, prompt, traj_by_line}}}}")
    settings = {
        "dataset": m["dataset"],
        "split": m["split"],
        "model": m["model"],
        "temperature": float(m["temperature"]),
    }
    trajs = [parse_trajectory(int(r.get("userid", key)), r) for key, r in data.items()]
    return settings, trajs


def import_billp_trajs(
    files: Iterable[str | os.PathLike[str]],
    catalogue: pd.DataFrame,
    store_path: str | os.PathLike[str],
    grounder: Grounder | None = None,
    terminal: str = "keep",
) -> dict[str, Any]:
    """Import BiLLP trajectory files into the DemoStore at `store_path`; returns a report.

    `catalogue` has item_id and title. Re-running resumes: episodes already in the store (same
    source file and user) are skipped. All files must share model and temperature (they form
    one store header). The report is the store's `report` plus the import's counts.
    """
    if terminal not in TERMINAL_POLICIES:
        raise DataError(
            f"unknown terminal policy {terminal!r}; expected one of {TERMINAL_POLICIES}"
        )
    files = sorted(Path(f) for f in files)
    if not files:
        raise DataError("no BiLLP trajectory files given")
    parsed = [(f.name, *parse_billp_file(f)) for f in files]
    settings = {(s["model"], s["temperature"], s["dataset"]) for _, s, _ in parsed}
    if len(settings) > 1:
        raise DataError(f"BiLLP files mix settings {sorted(settings)}; import them separately")
    model, temperature, dataset = settings.pop()
    header = {
        "backend": "billp-import",
        "model": model,
        "params": {"temperature": temperature, "dataset": dataset, "window": WINDOW},
        "terminal": terminal,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    exact, normalised = exact_lookup(catalogue)
    grounded = _ground_all(parsed, exact, normalised, grounder)
    counts: Counter[str] = Counter()
    with DemoStore.open(store_path, header) as store:
        done_keys = {(ep.steps[0].get("source"), ep.user) for ep in store.episodes() if ep.steps}
        for source, _, trajs in parsed:
            for traj in trajs:
                steps = _steps(traj, source, grounded, exact, normalised, terminal, counts)
                if (source, traj.user) in done_keys:
                    counts["episodes_already_stored"] += 1
                    continue
                if not steps:
                    counts["empty_episodes"] += 1
                    continue
                store.begin_episode(traj.user)
                for step in steps:
                    store.add_step(step)
                store.end_episode()
        out = report(store)
    out.update(
        files=[name for name, _, _ in parsed],
        records=sum(len(t) for _, _, t in parsed),
        terminal=terminal,
        actions=counts["actions"],
        accepted=counts["accepted"],
        quit_markers=counts["quit"],
        replaced=counts["replaced"],
        skipped_lines=sum(t.skipped_lines for _, _, ts in parsed for t in ts),
        item_grounding={k[4:]: v for k, v in sorted(counts.items()) if k.startswith("via_")},
        episodes_already_stored=counts["episodes_already_stored"],
        empty_episodes=counts["empty_episodes"],
    )
    return out


def _ground_all(
    parsed: list[tuple[str, dict[str, Any], list[ParsedTrajectory]]],
    exact: dict[str, int],
    normalised: dict[str, int],
    grounder: Grounder | None,
) -> dict[str, tuple[int, float]]:
    """Similarity grounding, in one batch, of the titles that exact/normalised matching misses."""
    titles = {s.executed_title for _, _, ts in parsed for t in ts for s in t.steps}
    missing = sorted(t for t in titles if t not in exact and normalise_title(t) not in normalised)
    if grounder is None or not missing:
        return {}
    ids, sims = grounder(missing)
    return {t: (int(i), float(s)) for t, i, s in zip(missing, ids, sims, strict=True)}


def _match(
    title: str, exact: dict[str, int], normalised: dict[str, int], similar: dict[str, Any]
) -> tuple[int | None, str, float | None]:
    """(item id, method, similarity) for one title."""
    if title in exact:
        return exact[title], "exact", 1.0
    if (key := normalise_title(title)) in normalised:
        return normalised[key], "normalised", 1.0
    if title in similar:
        item, sim = similar[title]
        return item, "similarity", sim
    return None, "none", None


def _steps(
    traj: ParsedTrajectory,
    source: str,
    similar: dict[str, Any],
    exact: dict[str, int],
    normalised: dict[str, int],
    terminal: str,
    counts: Counter[str],
) -> list[dict[str, Any]]:
    """The store's step dicts for one trajectory under the terminal policy."""
    steps: list[dict[str, Any]] = []
    window: list[list[Any]] = []
    for i, p in enumerate(traj.steps):
        item, method, sim = _match(p.executed_title, exact, normalised, similar)
        replaced = p.executed_title != p.title
        counts.update(["actions", f"via_{method}", "quit" if p.quit else "accepted"])
        counts["replaced"] += replaced
        reward = {"keep": None, "reward_minus1000": QUIT_REWARD, "reward_zero": 0.0}.get(terminal)
        last = i == len(traj.steps) - 1
        steps.append(
            {
                "window": [list(w) for w in window[-WINDOW:]],
                "prompt": traj.prompt if i == 0 else None,
                "response": p.response,
                "title": p.title,
                "executed_title": p.executed_title,
                "replaced": replaced,
                "item": item,
                "grounding": "replaced" if replaced else method,
                "item_grounding": method,
                "similarity": sim,
                "reward": reward if p.quit else p.observed_reward,
                "observed_reward": p.observed_reward,
                "done": last,
                "reason": "quit" if p.quit else ("max_turn" if last else "continue"),
                "tokens": None,
                "latency": None,
                "source": source,
            }
        )
        window.append([item, steps[-1]["reward"]])
    if steps and terminal == "drop" and traj.steps[-1].quit:
        steps.pop()
        if steps:
            steps[-1].update(done=True, reason="quit")
    return steps
