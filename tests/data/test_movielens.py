import zipfile

import numpy as np
import pytest

from rlrec.data import DataConfig, load_dataset, movielens, summarize
from rlrec.data.synthetic import SyntheticConfig
from rlrec.data.synthetic.interactive import write_interactive
from rlrec.errors import DataError


@pytest.mark.network
def test_real_ml100k_counts_and_tables(ml100k):
    summary = summarize(ml100k)
    assert (summary["users"], summary["items"], summary["interactions"]) == (943, 1682, 100_000)
    assert summary["rating_distribution"] == {
        "1": 6110, "2": 11370, "3": 27145, "4": 34174, "5": 21201,
    }  # fmt: skip
    toy = ml100k.items.set_index("item_id").loc[1]
    assert toy["title"] == "Toy Story" and toy["year"] == 1995
    assert toy["genres"] == ["Animation", "Children's", "Comedy"]
    user1 = ml100k.users.set_index("user_id").loc[1]
    assert (user1["age"], user1["gender"], user1["occupation"]) == (24, "M", "technician")
    # chronological within each user
    ts = ml100k.interactions.groupby("user_id")["timestamp"].apply(
        lambda s: s.is_monotonic_increasing
    )
    assert ts.all()


@pytest.mark.network
def test_ml100k_second_load_is_a_cache_hit(ml100k, caplog):
    caplog.set_level("INFO", logger="rlrec")
    again = load_dataset(DataConfig(name="ml-100k"))
    assert "cache hit" in caplog.text
    assert again.interactions.equals(ml100k.interactions)
    assert again.items["genres"].tolist() == ml100k.items["genres"].tolist()


def _synthetic(tmp_path, **kw):
    folder = tmp_path / "syn"
    write_interactive(folder, SyntheticConfig(n_users=120, n_items=150, **kw))
    return folder


def test_synthetic_interactive_is_deterministic(tmp_path):
    a = _synthetic(tmp_path / "a", seed=3)
    b = _synthetic(tmp_path / "b", seed=3)
    c = _synthetic(tmp_path / "c", seed=4)
    for name in ("u.data", "u.item", "u.user"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert (a / "u.data").read_bytes() != (c / "u.data").read_bytes()


def test_synthetic_interactive_reads_through_the_grouplens_parser(tmp_path):
    ds = movielens.read_folder(_synthetic(tmp_path, seed=1))
    assert ds.meta["source"].startswith("GroupLens")
    s = summarize(ds)
    assert s["users"] == 120 and s["items"] == 150
    assert set(s["rating_distribution"]) <= {"1", "2", "3", "4", "5"}
    assert ds.items["title"].str.startswith("The ").all()
    assert ds.items["year"].between(1950, 1999).all()
    assert ds.items["genres"].map(len).between(1, 2).all()


def test_synthetic_ratings_follow_the_latent_tastes(tmp_path):
    folder = _synthetic(tmp_path, seed=2, noise=0.3)
    ds = movielens.read_folder(folder)
    truth = np.load(folder / "truth.npz")
    favourite = truth["tastes"].argmax(1)  # [U]
    item_genres = truth["item_genres"]  # [I, G]
    inter = ds.interactions
    u, i = inter["user_id"].to_numpy() - 1, inter["item_id"].to_numpy() - 1
    in_favourite = item_genres[i, favourite[u]] > 0
    liked, other = inter["rating"][in_favourite].mean(), inter["rating"][~in_favourite].mean()
    assert liked > other + 0.5
    assert in_favourite.mean() > 0.3  # users seek their favourite genre


def test_archives_and_bad_folders(tmp_path):
    folder = _synthetic(tmp_path, seed=1)
    archive = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("u.data", "u.item", "u.user"):
            zf.write(folder / name, f"ml-100k/{name}")
    ds = movielens.fetch_ml100k(archive)
    assert summarize(ds)["interactions"] == summarize(movielens.read_folder(folder))["interactions"]
    with pytest.raises(DataError, match="no MovieLens-100K files"):
        movielens.read_folder(tmp_path / "a")
    not_zip = tmp_path / "x.zip"
    not_zip.write_text("hello")
    with pytest.raises(DataError, match="not a zip"):
        movielens.fetch_ml100k(not_zip)
    with pytest.raises(DataError, match="path not found"):
        movielens.fetch_ml100k(tmp_path / "missing")
    (folder / "u.user").unlink()
    with pytest.raises(DataError, match="missing MovieLens file"):
        movielens.read_folder(folder)
