"""The world-model artefact (`interactive.world.worldmodel`): BiLLP's own matrices, distances."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from rlrec.data.billp import load_billp
from rlrec.interactive.world.world_builder import WorldModelConfig, make_world_model
from rlrec.interactive.world.worldmodel import (
    WorldModel,
    pairwise_euclidean,
    world_model_from_billp,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# -- BiLLP's own matrices ------------------------------------------------------------------------


def make_billp_folder(folder: Path) -> dict[str, np.ndarray]:
    """A BiLLP Amazon folder with both reward matrices and both (float) distance pickles."""
    titles = ["Book A", "Book B", "Book C", "Book D", "Book E"]
    folder.mkdir(parents=True)
    maps = {
        "item2id_dict": {t: i for i, t in enumerate(titles)},
        "id2item_dict": {str(i): t for i, t in enumerate(titles)},
    }
    (folder / "datamaps.json").write_text(json.dumps(maps), encoding="utf-8")
    genres = {t: "['Mystery']" for t in titles}
    (folder / "list_genre.json").write_text(json.dumps(genres), encoding="utf-8")
    histories = [
        {"userid_encoded": 2, "pos_seq_name": ["Book B", "Book E", "Book A"], "question": ""},
        {"userid_encoded": 0, "pos_seq_name": ["Book C", "Book D", "Book A"], "question": ""},
    ]
    (folder / "test.json").write_text(json.dumps(histories), encoding="utf-8")
    rng = np.random.default_rng(3)
    arrays = {
        "reward_train": rng.uniform(0, 5.3, (4, 5)).astype(np.float32),
        "reward_test": rng.uniform(0, 5.3, (3, 5)).astype(np.float32),
        "distance_train": rng.uniform(0, 40, (5, 5)),
        "distance_test": rng.uniform(0, 40, (5, 5)),
    }
    np.save(folder / "amazon_train.npy", arrays["reward_train"])
    np.save(folder / "amazon_test.npy", arrays["reward_test"])
    for split in ("train", "test"):
        with open(folder / f"{split}_distance_mat.pickle", "wb") as f:
            pickle.dump(arrays[f"distance_{split}"], f)
    return arrays


def test_world_model_from_billp(tmp_path: Path) -> None:
    arrays = make_billp_folder(tmp_path / "amazon")
    ds = load_billp(tmp_path / "amazon", "amazon")
    wm = make_world_model(ds, WorldModelConfig())  # auto: BiLLP's matrices are present
    assert wm.meta["source"] == "billp" and wm.distance_threshold == 15.0
    for split in ("train", "test"):
        assert np.array_equal(wm.rewards[split], arrays[f"reward_{split}"])
        assert np.array_equal(wm.users[split], np.arange(len(arrays[f"reward_{split}"])))
        assert np.allclose(wm.distances(split), arrays[f"distance_{split}"])
        assert wm.distances(split).dtype == np.float32
    assert wm.items["title"].tolist() == ["Book A", "Book B", "Book C", "Book D", "Book E"]
    wm.save(tmp_path / "world")
    back = WorldModel.load(tmp_path / "world")
    assert np.array_equal(back.rewards["test"], arrays["reward_test"])
    assert np.allclose(back.distances("train"), arrays["distance_train"])
    assert back.distance_threshold == 15.0
    assert world_model_from_billp(ds, distance_threshold=3.0).distance_threshold == 3.0

    learned = make_world_model(ds, WorldModelConfig(source="learned", model="mf", epochs=1))
    assert learned.meta["source"] == "learned"


# -- pure pieces ---------------------------------------------------------------------------------


def test_pairwise_euclidean_matches_a_naive_computation() -> None:
    x = np.random.default_rng(0).normal(size=(37, 5)).astype(np.float32)
    naive = np.array([[np.sqrt(((a - b) ** 2).sum()) for b in x] for a in x])
    assert np.allclose(pairwise_euclidean(x, chunk=8), naive, atol=1e-5)
