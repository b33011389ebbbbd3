"""BiLLP loader (`rlrec.data.billp`) and its restricted unpickler (`rlrec.data.numpy_pickle`)."""

from __future__ import annotations

import builtins
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rlrec.data import DataConfig, cache, load_dataset, summarize
from rlrec.data.billp import load_billp
from rlrec.data.registry import cache_folder
from rlrec.errors import DataError

TITLES = ["Book A", "Book B", "Book C", "Book D"]
GENRES = {
    "Book A": "['Literature & Fiction', 'Genre Fiction']",
    "Book B": "['Mystery']",
    "Book C": "['Mystery']",
    "Outside the catalogue": "['Ignored']",
}
HISTORIES = [
    {
        "userid_encoded": 2,
        "pos_seq_name": ["Book B", "Book A", "Lost Book", "Book D"],
        "question": "",
    },
    {"userid_encoded": 0, "pos_seq_name": ["Book C"], "question": ""},
]


def make_billp(folder: Path, n_users: int = 3) -> Path:
    """A small BiLLP folder: 4 items, genres, test.json, a reward and a distance matrix."""
    folder.mkdir(parents=True, exist_ok=True)
    datamaps = {
        "item2id_dict": {t: i for i, t in enumerate(TITLES)},
        "id2item_dict": {str(i): t for i, t in enumerate(TITLES)},
    }
    (folder / "datamaps.json").write_text(json.dumps(datamaps), encoding="utf-8")
    (folder / "list_genre.json").write_text(json.dumps(GENRES), encoding="utf-8")
    (folder / "test.json").write_text(json.dumps(HISTORIES), encoding="utf-8")
    np.save(folder / "amazon_train.npy", np.arange(n_users * 4, dtype=np.float32).reshape(-1, 4))
    with open(folder / "train_distance_mat.pickle", "wb") as f:
        pickle.dump(np.eye(4), f)
    return folder


class RunsCode:
    """Unpickling this calls `func(arg)`: what a hostile pickle does."""

    def __init__(self, func: object, arg: str) -> None:
        self.func, self.arg = func, arg

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return self.func, (self.arg,)


# -- the real files (../shared/data/billp) ---------------------------------------------------------


def test_real_amazon(billp_data: Path) -> None:
    ds = load_billp(billp_data / "amazon", "amazon")
    summary = summarize(ds)
    assert (summary["items"], summary["users"]) == (13_864, 1_049)
    assert ds.name == "billp-amazon" and summary["implicit"]
    assert ds.meta["unknown_titles"] == 0
    assert all(isinstance(g, list) and all(isinstance(x, str) for x in g) for g in ds.items.genres)
    assert ds.items.loc[ds.items.title == "The Runaway Jury", "genres"].item() == [
        "Literature & Fiction",
        "Genre Fiction",
    ]
    lengths = ds.interactions.groupby("user_id")["timestamp"].agg(["min", "max"])
    assert (lengths["min"] == 0).all() and set(ds.interactions["split"]) == {"test"}
    assert len(ds.interactions) == 116_007  # history lengths 1-503, median 99
    assert (lengths["max"].min(), lengths["max"].median(), lengths["max"].max()) == (0, 98, 502)


def test_real_steam_from_parent_folder(billp_data: Path) -> None:
    ds = load_billp(billp_data, "steam")
    assert len(ds.items) == 6_012 and len(ds.interactions) == 0
    assert ds.meta["files"] == ["steam/datamaps.json", "steam/list_genre.json"]
    assert ds.meta["duplicate_titles"] == {"Dark Matter": [1557, 3443]}


@pytest.mark.parametrize(
    ("name", "sub", "items", "users"),
    [("billp-amazon", "amazon", 13_864, 1_049), ("billp-amazon", "", 13_864, 1_049),
     ("billp-steam", "", 6_012, 0)],
)  # fmt: skip
def test_real_through_registry_and_cache(
    billp_data: Path, name: str, sub: str, items: int, users: int
) -> None:
    cfg = DataConfig(name=name, path=billp_data / sub)
    for _ in range(2):  # parse, then the cached copy
        ds = load_dataset(cfg)
        summary = summarize(ds)
        assert (summary["items"], summary["users"]) == (items, users)
        assert isinstance(ds.items["genres"].iloc[0], list)


def test_cli_data_info(billp_data: Path) -> None:
    cmd = [sys.executable, "-m", "rlrec", "data", "info", "billp-amazon"]
    proc = subprocess.run(
        [*cmd, "--path", str(billp_data / "amazon")], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "13,864" in proc.stdout and "1,049" in proc.stdout


def test_cli_reports_a_bad_path(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "rlrec", "data", "info", "billp-amazon", "--path", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 2 and "datamaps.json not found" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr


# -- a synthetic folder ------------------------------------------------------------------------


def test_synthetic_folder(tmp_path: Path) -> None:
    ds = load_billp(make_billp(tmp_path / "amazon"), "amazon")
    assert ds.items["item_id"].tolist() == [0, 1, 2, 3]
    assert ds.items["genres"].tolist() == [["Literature & Fiction", "Genre Fiction"], ["Mystery"],
                                          ["Mystery"], []]  # fmt: skip
    assert ds.meta["items_without_genres"] == 1
    inter = ds.interactions
    assert inter["user_id"].tolist() == [2, 2, 2, 0]
    assert inter["item_id"].tolist() == [1, 0, 3, 2]
    assert inter["timestamp"].tolist() == [0, 1, 3, 0]  # positions kept around the unknown title
    assert inter["rating"].isna().all() and set(inter["split"]) == {"test"}
    assert ds.meta["unknown_titles"] == 1 and ds.meta["unknown_title_examples"] == ["Lost Book"]
    assert ds.meta["load_report"]["skipped"] == 1
    assert ds.arrays["reward_train"].shape == (3, 4)
    assert np.array_equal(ds.arrays["distance_train"], np.eye(4))
    assert ds.meta["files"] == ["datamaps.json", "list_genre.json", "test.json",
                                "amazon_train.npy", "train_distance_mat.pickle"]  # fmt: skip


def test_synthetic_folder_through_cache(tmp_path: Path) -> None:
    cfg = DataConfig(name="billp-amazon", path=make_billp(tmp_path / "amazon"))
    first = load_dataset(cfg)
    assert cache.is_complete(cache_folder(cfg))
    again = load_dataset(cfg)
    assert again.meta == first.meta
    assert again.interactions["split"].tolist() == ["test"] * 4
    assert again.items["genres"].iloc[0] == ["Literature & Fiction", "Genre Fiction"]
    for name in ("reward_train", "distance_train"):
        assert np.array_equal(again.arrays[name], first.arrays[name])


def test_billp_checkout_layout(tmp_path: Path) -> None:
    make_billp(tmp_path / "env" / "amazon")
    (tmp_path / "data" / "amazon").mkdir(parents=True)
    os.replace(tmp_path / "env/amazon/test.json", tmp_path / "data/amazon/test.json")
    ds = load_billp(tmp_path, "amazon")
    assert len(ds.interactions) == 4 and "data/amazon/test.json" in ds.meta["files"]


def test_reward_shape_mismatch(tmp_path: Path) -> None:
    folder = make_billp(tmp_path)
    np.save(folder / "amazon_train.npy", np.zeros((3, 5), dtype=np.float32))
    with pytest.raises(DataError, match=r"amazon_train\.npy has shape \(3, 5\)"):
        load_billp(folder, "amazon")


def test_reward_rows_cover_users(tmp_path: Path) -> None:
    folder = make_billp(tmp_path, n_users=2)
    np.save(folder / "amazon_test.npy", np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(DataError, match=r"amazon_test\.npy .* user id 2"):
        load_billp(folder, "amazon")


def test_distance_shape_mismatch(tmp_path: Path) -> None:
    folder = make_billp(tmp_path)
    (folder / "train_distance_mat.pickle").write_bytes(pickle.dumps(np.zeros((4, 3))))
    with pytest.raises(DataError, match=r"train_distance_mat\.pickle has shape \(4, 3\)"):
        load_billp(folder, "amazon")


def test_missing_folder_or_datamaps(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="BiLLP folder not found"):
        load_billp(tmp_path / "absent", "amazon")
    with pytest.raises(DataError, match=r"datamaps\.json not found in"):
        load_billp(tmp_path, "amazon")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("datamaps.json", "{oops", r"datamaps\.json is not valid JSON"),
        ("list_genre.json", "", r"list_genre\.json is not valid JSON"),
        ("test.json", "[{", r"test\.json is not valid JSON"),
        ("test.json", '[{"pos_seq_name": []}]', "record 0 has no integer userid_encoded"),
        ("test.json", '[{"userid_encoded": 1, "pos_seq_name": "A"}]', "record 0 has no pos_seq"),
        ("amazon_train.npy", "junk", r"amazon_train\.npy is not a readable \.npy array"),
    ],
)
def test_malformed_files(tmp_path: Path, name: str, content: str, message: str) -> None:
    folder = make_billp(tmp_path)
    (folder / name).write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        load_billp(folder, "amazon")


def test_other_datasets_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="holds BiLLP's amazon data, not steam"):
        load_billp(make_billp(tmp_path / "amazon"), "steam")


def test_unknown_dataset(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown BiLLP dataset"):
        load_billp(make_billp(tmp_path), "movies")  # type: ignore[arg-type]


# -- security --------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 5])
@pytest.mark.parametrize("kind", ["system", "eval"])
def test_code_running_pickle_is_refused(tmp_path: Path, kind: str, protocol: int) -> None:
    folder = make_billp(tmp_path / "amazon")
    marker = tmp_path / "pwned"
    payload = (
        RunsCode(os.system, f"touch {marker}")
        if kind == "system"
        else RunsCode(builtins.eval, f"open({str(marker)!r}, 'w')")
    )
    (folder / "train_distance_mat.pickle").write_bytes(pickle.dumps(payload, protocol=protocol))
    expected = r"(posix|nt|os)\.system" if kind == "system" else r"(__builtin__|builtins)\.eval"
    with pytest.raises(DataError, match=f"refused to unpickle {expected} from .*distance_mat"):
        load_billp(folder, "amazon")
    assert not marker.exists()


def test_genre_literal_that_runs_code_is_refused(tmp_path: Path) -> None:
    folder = make_billp(tmp_path / "amazon")
    marker = tmp_path / "pwned"
    genres = {**GENRES, "Book D": f"__import__('os').system('touch {marker}')"}
    (folder / "list_genre.json").write_text(json.dumps(genres), encoding="utf-8")
    with pytest.raises(DataError, match="genres of 'Book D' are not a Python list literal"):
        load_billp(folder, "amazon")
    assert not marker.exists()


def test_genre_literal_of_wrong_type_is_refused(tmp_path: Path) -> None:
    folder = make_billp(tmp_path / "amazon")
    (folder / "list_genre.json").write_text(json.dumps({"Book A": "{'a': 1}"}), encoding="utf-8")
    with pytest.raises(DataError, match="genres of 'Book A' must be a list of strings"):
        load_billp(folder, "amazon")


def test_json_files_with_a_byte_order_mark(tmp_path: Path) -> None:
    folder = make_billp(tmp_path / "amazon")
    for name in ("datamaps.json", "test.json"):
        path = folder / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    ds = load_billp(folder, "amazon")
    assert ds.items["item_id"].tolist() == [0, 1, 2, 3]
    assert ds.interactions["user_id"].tolist() == [2, 2, 2, 0]
