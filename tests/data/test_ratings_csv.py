"""Bring-your-own ratings CSV: parsing, items, errors, and a world model on top."""

import pytest

from rlrec.data import DataConfig, load_dataset
from rlrec.errors import DataError


def write(folder, ratings, items=None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.csv").write_text(ratings)
    if items is not None:
        (folder / "items.csv").write_text(items)
    return folder


def test_folder_with_items_and_time_order(tmp_path):
    folder = write(
        tmp_path / "d",
        "user_id,item_id,rating,timestamp\n1,10,4,300\n1,11,2.5,100\n2,10,5,200\n",
        "item_id,title,genres\n10,Dune,Sci-Fi|Classic\n11,Emma,\n",
    )
    ds = load_dataset(DataConfig(name="ratings-csv", path=folder))
    assert len(ds.interactions) == 3 and ds.interactions["user_id"].tolist() == [1, 1, 2]
    assert ds.interactions["rating"].tolist() == [4.0, 2.5, 5.0]
    assert ds.interactions["domain"].unique().tolist() == ["csv"]
    items = ds.items.set_index("item_id")
    assert items.loc[10, "title"] == "Dune" and items.loc[10, "genres"] == ["Sci-Fi", "Classic"]


def test_file_without_timestamp_keeps_row_order_and_string_ids(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("user_id,item_id,rating,domain\nu1,a,3,Books\nu1,b,4,Music\n")
    ds = load_dataset(DataConfig(name="ratings-csv", path=path))
    assert ds.interactions["timestamp"].tolist() == [0, 1]
    assert ds.domains == ["Books", "Music"] and ds.interactions["item_id"].tolist() == ["a", "b"]


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(DataError, match=r"no ratings\.csv"):
        load_dataset(DataConfig(name="ratings-csv", path=tmp_path))
    bad = write(tmp_path / "bad", "user,item,stars\n1,2,3\n")
    with pytest.raises(DataError, match="missing column"):
        load_dataset(DataConfig(name="ratings-csv", path=bad))
    text = write(tmp_path / "text", "user_id,item_id,rating\n1,2,3\n1,3,great\n")
    with pytest.raises(DataError, match=r"ratings.csv:3: rating is not a number"):
        load_dataset(DataConfig(name="ratings-csv", path=text, strict=True))
    lenient = load_dataset(DataConfig(name="ratings-csv", path=text))
    assert len(lenient.interactions) == 1
