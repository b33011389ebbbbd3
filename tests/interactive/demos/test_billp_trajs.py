"""Importing BiLLP's trajs_agent files, and the n-gram grounder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rlrec.errors import DataError
from rlrec.interactive.demos.billp_trajs import import_billp_trajs, parse_billp_file
from rlrec.interactive.demos.store import DemoStore, transitions
from rlrec.interactive.text.grounding import NgramGrounder, normalise_title

NAME = "amazon_train_0_100_gpt-3.5-turbo-16k_0.5_2024-01-17-21-28-32.json"
CATALOGUE = pd.DataFrame(
    {
        "item_id": [0, 1, 2, 3, 4, 5],
        "title": ["Gone Girl", "The Runaway Jury", "The Good Girl", "Dune", "Emma", "Leaving Time"],
    }
)
HISTORY = "The user's viewing history is ['Emma'], please recommend item for this user."


def _record(user: int, lines: list[str]) -> dict:
    lines = [HISTORY, *lines]
    return {"userid": user, "prompt": "PROMPT ", "traj": "\n".join(lines), "traj_by_line": lines}


SYNTHETIC = {
    "11": _record(
        11,
        [
            "Thought 1: mystery.",
            "Action 1: recommend[Gone Girl]",
            "Observation 1: Episode continue, reward=3.5",
            "Thought 2: more.",
            "Action 2: recommend[The Notebook]",
            "Observation 2: [The Notebook] can not be recommened, "
            "instead, recommend[The Good Girl]",
            "Observation 2: Episode continue, reward=1.25",
            "Thought 3: again.",
            "Action 3: recommend[ 'dune' ]",
            "Observation 3: Episode finished, User Stop, reward=-1000.000",
        ],
    ),
    "12": _record(
        12,
        [
            "Thought 1: legal thriller.",
            "Action 1: recommend[Runaway Jury, The]",
            "Observation 1: Episode continue, reward=4.0",
            "Action 2: recommend[Emma]",
            "Observation 2: Episode continue, reward=2.5",
        ],
    ),  # no quit marker: BiLLP's step cap
}


def _write(folder: Path, records: dict, name: str = NAME) -> Path:
    path = folder / name
    path.write_text(json.dumps(records))
    return path


def test_parse_every_line_type(tmp_path: Path) -> None:
    settings, trajs = parse_billp_file(_write(tmp_path, SYNTHETIC))
    assert settings == {
        "dataset": "amazon",
        "split": "train",
        "model": "gpt-3.5-turbo-16k",
        "temperature": 0.5,
    }
    first = trajs[0]
    assert first.user == 11 and first.prompt == "PROMPT " + HISTORY
    assert [(s.title, s.executed_title, s.observed_reward, s.quit) for s in first.steps] == [
        ("Gone Girl", "Gone Girl", 3.5, False),
        ("The Notebook", "The Good Girl", 1.25, False),
        ("'dune'", "'dune'", -1000.0, True),
    ]
    assert first.steps[0].response == "Thought 1: mystery.\nAction 1: recommend[Gone Girl]"
    assert trajs[1].skipped_lines == 0


def test_import_synthetic_keep_policy(tmp_path: Path) -> None:
    store_path = tmp_path / "demos.jsonl"
    grounder = NgramGrounder.from_catalogue(CATALOGUE)
    stats = import_billp_trajs([_write(tmp_path, SYNTHETIC)], CATALOGUE, store_path, grounder)
    assert stats["episodes"] == 2 and stats["transitions"] == 5
    assert stats["accepted"] == 4 and stats["quit_markers"] == 1 and stats["replaced"] == 1
    assert stats["item_grounding"] == {"exact": 3, "normalised": 1, "similarity": 1}
    assert stats["grounding"] == {"exact": 2, "normalised": 1, "replaced": 1, "similarity": 1}
    assert stats["quits"] == {"max_turn": 1, "quit": 1}
    store = DemoStore.read(store_path)
    assert store.header["backend"] == "billp-import"
    assert store.header["model"] == "gpt-3.5-turbo-16k"
    assert store.header["params"]["temperature"] == 0.5
    frame = transitions(store)
    assert frame["item"].tolist() == [0, 2, 3, 1, 4]
    assert frame["reward"].iloc[:2].tolist() == [3.5, 1.25] and np.isnan(frame["reward"].iloc[2])
    assert frame["done"].tolist() == [False, False, True, False, True]
    assert frame["reason"].tolist() == ["continue", "continue", "quit", "continue", "max_turn"]
    assert frame["window_items"].iloc[2] == [0, 2]
    steps = next(store.episodes()).steps
    assert steps[0]["prompt"].startswith("PROMPT ") and steps[1]["prompt"] is None
    assert steps[2]["observed_reward"] == -1000.0
    # a rerun resumes: nothing is written twice
    again = import_billp_trajs([tmp_path / NAME], CATALOGUE, store_path, grounder)
    assert again["episodes"] == 2 and again["episodes_already_stored"] == 2


@pytest.mark.parametrize(
    ("terminal", "n_steps", "quit_reward"),
    [("drop", 2, 1.25), ("reward_minus1000", 3, -1000.0), ("reward_zero", 3, 0.0)],
)
def test_terminal_policies(tmp_path: Path, terminal: str, n_steps: int, quit_reward: float) -> None:
    path = _write(tmp_path, {"11": SYNTHETIC["11"]})
    import_billp_trajs([path], CATALOGUE, tmp_path / "d.jsonl", terminal=terminal)
    (episode,) = DemoStore.read(tmp_path / "d.jsonl").episodes()
    assert len(episode.steps) == n_steps
    last = episode.steps[-1]
    assert last["done"] and last["reason"] == "quit" and last["reward"] == quit_reward


def test_without_grounder_a_title_stays_ungrounded(tmp_path: Path) -> None:
    stats = import_billp_trajs([_write(tmp_path, SYNTHETIC)], CATALOGUE, tmp_path / "d.jsonl")
    assert stats["item_grounding"] == {"exact": 3, "none": 1, "normalised": 1}
    assert transitions(DemoStore.read(tmp_path / "d.jsonl"))["item"].isna().sum() == 1


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a BiLLP trajs_agent file name"):
        import_billp_trajs([_write(tmp_path, SYNTHETIC, "x.json")], CATALOGUE, tmp_path / "d")
    (tmp_path / NAME).write_text("{broken")
    with pytest.raises(DataError, match="cannot read"):
        import_billp_trajs([tmp_path / NAME], CATALOGUE, tmp_path / "d")
    other = NAME.replace("0.5", "0.7")
    files = [_write(tmp_path, SYNTHETIC), _write(tmp_path, SYNTHETIC, other)]
    with pytest.raises(DataError, match="mix settings"):
        import_billp_trajs(files, CATALOGUE, tmp_path / "d")
    with pytest.raises(DataError, match="terminal policy"):
        import_billp_trajs(files[:1], CATALOGUE, tmp_path / "d", terminal="nope")


def test_ngram_grounder_small_catalogue() -> None:
    grounder = NgramGrounder.from_catalogue(CATALOGUE)
    ids, sims = grounder(["Runaway Jury, The", "The Runaway Jurry", "Gone Gril", "", "Dune"])
    assert ids.tolist()[:3] == [1, 1, 0] and ids[4] == 3
    assert sims[0] == pytest.approx(1.0) and 0.5 < sims[1] < 1.0 and sims[3] == 0.0
    assert normalise_title('  "The Runaway  JURY" ') == "the runaway jury"


@pytest.mark.parametrize(
    ("dataset", "actions", "accepted"), [("amazon", 348, 248), ("steam", 363, 263)]
)
def test_real_billp_trajectories(
    billp_data: Path, tmp_path: Path, dataset: str, actions: int, accepted: int
) -> None:
    from rlrec.data.billp import load_billp

    items = load_billp(billp_data, dataset).items
    files = sorted((billp_data / "trajs").glob(f"{dataset}_train_*.json"))
    stats = import_billp_trajs(files, items, tmp_path / "d.jsonl")
    if stats["item_grounding"].get("none"):  # not the case in the published files
        grounder = NgramGrounder.from_catalogue(items)
        stats = import_billp_trajs(files, items, tmp_path / "d2.jsonl", grounder)
    assert stats["episodes"] == 100 and stats["users"] == 100
    assert stats["actions"] == stats["transitions"] == actions
    assert stats["accepted"] == accepted and stats["quit_markers"] == stats["quits"]["quit"] == 100
    assert stats["skipped_lines"] == 0
    assert "none" not in stats["item_grounding"]
    assert stats["item_grounding"] == {"exact": actions}  # every executed title is in datamaps
    frame = transitions(DemoStore.read(tmp_path / "d.jsonl"))
    assert frame["item"].notna().all() and frame["item"].isin(items["item_id"]).all()
    if dataset == "amazon":  # docs/ilrec.md#demonstrations: mean accepted reward 3.07
        assert stats["mean_reward"] == pytest.approx(3.07, abs=0.005)
        grounder = NgramGrounder.from_catalogue(items)
        ids, _ = grounder(["Runaway Jury, The", "The Runaway Jurry"])
        titles = items.set_index("item_id").loc[ids, "title"].tolist()
        assert titles == ["The Runaway Jury", "The Runaway Jury"]
