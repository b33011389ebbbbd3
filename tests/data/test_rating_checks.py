"""The checks every rating loader applies (`rlrec.data.checks`): a byte-order mark, ratings that
are not finite or outside the declared scale, repeated (user, item) ratings, nothing valid left;
lenient (skip, keep the latest, count) and strict (the first offending line is an error)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rlrec.config import validate
from rlrec.data import DataConfig, format_summary, load_dataset, summarize
from rlrec.data.amazon import read_reviews
from rlrec.data.checks import rating_out_of_scale, repeated, superseded
from rlrec.errors import ConfigError, DataError

BOM = b"\xef\xbb\xbf"


def test_scale_and_duplicate_marks():
    r = np.array([1, 5, 0.5, 5.5, np.inf, -np.inf, np.nan, 1e308, -1e6, 3])
    assert rating_out_of_scale(r, (1, 5)).tolist() == [False, False] + [True] * 7 + [False]
    assert not rating_out_of_scale(np.array([0.0, 10.0]), (0, 10)).any()
    users = pd.Series(["a", "a", "b", "a", "a"])
    items = pd.Series([1, 1, 1, 1, 2])
    stamps = np.array([5, 9, 1, 7, 0])  # (a, 1) three times: latest is the second row
    assert superseded(users, items, "d", stamps).tolist() == [True, False, False, True, False]
    assert repeated(users, items, "d").tolist() == [False, True, False, True, False]
    domains = pd.Series(["x", "y", "x", "x", "x"])  # another domain is another rating
    assert superseded(users, items, domains, stamps).tolist() == [True, False, False, False, False]
    ties = superseded(users[:2], items[:2], "d", np.array([3, 3]))
    assert ties.tolist() == [True, False]  # same time: the row read last wins


# -- ratings-csv ---------------------------------------------------------------------------------


def _csv(tmp_path: Path, text: str, bom: bool = False) -> Path:
    path = tmp_path / "ratings.csv"
    tmp_path.mkdir(parents=True, exist_ok=True)
    path.write_bytes((BOM if bom else b"") + text.encode())
    return path


def _load_csv(path: Path, **kw):
    return load_dataset(DataConfig(name="ratings-csv", path=path, **kw))


POISON = """user_id,item_id,rating,timestamp
1,10,4,100
1,11,1e308,101
2,10,inf,102
2,11,-1e6,103
3,10,5,104
3,10,2,200
3,10,3,150
"""


def test_csv_poison_is_skipped_duplicates_keep_the_latest_and_both_are_counted(tmp_path):
    ds = _load_csv(_csv(tmp_path, POISON))
    inter = ds.interactions
    assert list(zip(inter["user_id"], inter["item_id"], inter["rating"], strict=True)) == [
        (1, 10, 4.0),
        (3, 10, 2.0),  # the rating of time 200, the latest of three
    ]
    report = ds.meta["load_report"]
    assert report["skipped"] == 3 and report["duplicates"] == 2
    assert report["reasons"] == {"rating not finite or outside [1, 5]": 3}
    assert np.isfinite(inter["rating"]).all()
    text = format_summary(summarize(ds))
    assert "3 malformed" in text and "2 repeated ratings" in text


@pytest.mark.parametrize(
    ("row", "line", "reason"),
    [
        ("1,11,1e308", 3, "outside [1, 5]"),
        ("1,11,inf", 3, "outside [1, 5]"),
        ("1,11,-1e6", 3, "outside [1, 5]"),
        ("1,11,nan", 3, "not a number"),
        ("1,10,2", 3, "repeated (user, item)"),
        (",11,2", 3, "missing"),
    ],
)
def test_csv_strict_names_the_line_of_each_problem(tmp_path, row, line, reason):
    path = _csv(tmp_path, f"user_id,item_id,rating\n1,10,4\n{row}\n2,10,5\n", bom=True)
    with pytest.raises(DataError) as err:
        _load_csv(path, strict=True)
    assert f"ratings.csv:{line}: " in str(err.value) and reason in str(err.value)


def test_csv_bom_scale_and_nothing_valid(tmp_path):
    ds = _load_csv(_csv(tmp_path / "a", "user_id,item_id,rating\n1,10,7\n1,11,0\n", bom=True),
                   rating_scale=(0, 10))  # fmt: skip
    assert ds.interactions["rating"].tolist() == [7.0, 0.0]  # the BOM did not hide user_id
    with pytest.raises(DataError, match="no valid rating row"):
        _load_csv(_csv(tmp_path / "b", "user_id,item_id,rating\n1,10,7\n1,11,9\n"))
    with pytest.raises(ConfigError, match="low < high"):
        validate(DataConfig, {"name": "ratings-csv", "rating_scale": [5, 1]})


# -- Amazon dumps --------------------------------------------------------------------------------


def _review(user: str, item: str, rating: float = 4.0, t: int = 1_300_000_000) -> str:
    record = {"reviewerID": user, "asin": item, "overall": rating, "unixReviewTime": t}
    return json.dumps(record)


def _dump(path: Path, lines: list[str], bom: bool = False, gz: bool = True) -> Path:
    data = (BOM if bom else b"") + ("\n".join(lines) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


@pytest.mark.parametrize("gz", [True, False])
def test_amazon_bom_keeps_the_first_record(tmp_path, gz):
    path = _dump(tmp_path / "reviews_Books_5.json.gz", [_review("u1", "i1"), "oops"], True, gz)
    ds = read_reviews(path)
    assert ds.interactions["user_id"].tolist() == ["u1"]
    assert ds.meta["load_report"]["examples"] == [f"{path}:2: not JSON"]
    with pytest.raises(DataError, match=r"reviews_Books_5\.json\.gz:2: not JSON"):
        read_reviews(path, strict=True)


def test_amazon_with_nothing_valid_is_an_error_not_an_empty_dataset(tmp_path):
    path = _dump(tmp_path / "reviews_Books_5.json.gz", ["nope", "{}", _review("u", "i", 9)])
    with pytest.raises(DataError, match="no valid review") as err:
        read_reviews(path)
    assert "3 malformed" in str(err.value)
    ok = _dump(tmp_path / "k" / "reviews_Books_5.json.gz", [_review("u", "i")])
    with pytest.raises(DataError, match=r"5-core .* is empty"):
        read_reviews(ok, kcore=5)


def test_amazon_duplicates_keep_the_latest_and_strict_names_the_repeat(tmp_path):
    lines = [_review("u1", "i1", 2, t=20), _review("u1", "i2"), _review("u1", "i1", 5, t=10)]
    path = _dump(tmp_path / "reviews_Books_5.json.gz", lines)
    ds = read_reviews(path)
    assert sorted(zip(ds.interactions["item_id"], ds.interactions["rating"], strict=True)) == [
        ("i1", 2.0),  # time 20 beats time 10, although read first
        ("i2", 4.0),
    ]
    assert ds.meta["load_report"]["duplicates"] == 1
    with pytest.raises(DataError, match=r":3: u1 rated i1 again \(first: line 1\)"):
        read_reviews(path, strict=True)
    other = _dump(tmp_path / "reviews_Music_5.json.gz", [_review("u1", "i1")])
    both = read_reviews([path, other])  # the same pair in another domain is no repeat
    assert both.meta["load_report"]["duplicates"] == 1 and len(both.interactions) == 3


def test_amazon_rating_scale_is_configurable(tmp_path):
    path = _dump(tmp_path / "reviews_Books_5.json.gz", [_review("u", "a", 0), _review("u", "b", 9)])
    ds = read_reviews(path, rating_scale=(0, 10))
    assert ds.interactions["rating"].tolist() == [0.0, 9.0]
    with pytest.raises(DataError, match=r":1: rating 0 out of range \[1, 5\]"):
        read_reviews(path, strict=True)


def test_amazon_reads_only_the_dump_names_it_knows(tmp_path):
    folder = tmp_path / "dumps"
    _dump(folder / "reviews_Books_5.json.gz", [_review("u", "a")])
    _dump(folder / "Music_5.json.gz", [_review("u", "b")])
    _dump(folder / "All_Beauty.json", [_review("u", "c")], gz=False)
    (folder / "results.json").write_text('{"mae": 0.8}\n' * 129)  # a stray file
    _dump(folder / "meta_Books.json.gz", ['{"asin": "a", "title": "A"}'])
    (folder / "notes.txt").write_text("hello")
    ds = load_dataset(DataConfig(name="amazon", path=folder))
    assert ds.domains == ["All_Beauty", "Books", "Music"]
    assert ds.meta["load_report"]["skipped"] == 0
    ignored = sorted(Path(p).name for p in ds.meta["ignored_files"])
    assert ignored == ["meta_Books.json.gz", "notes.txt", "results.json"]
    assert "ignored        " in format_summary(summarize(ds))


# -- MovieLens -----------------------------------------------------------------------------------


def test_movielens_gets_the_same_checks(tmp_path):
    from rlrec.data.movielens import GENRES

    folder = tmp_path / "ml"
    folder.mkdir()
    rows = ["1\t1\t4\t10", "1\t1\t2\t20", "2\t1\t9\t30", "2\t2\t3\t40"]
    (folder / "u.data").write_text("\n".join(rows) + "\n")
    flags = "|".join(["0"] * len(GENRES))
    (folder / "u.item").write_text(
        f"1|Alpha (1990)|01-Jan-1990||http://a|{flags}\n2|Beta (1991)|01-Jan-1991||http://b|{flags}\n"
    )
    (folder / "u.user").write_text("1|20|M|writer|11111\n2|30|F|other|22222\n")
    ds = load_dataset(DataConfig(name="ml-100k", path=folder))
    inter = ds.interactions
    assert list(zip(inter["user_id"], inter["item_id"], inter["rating"], strict=True)) == [
        (1, 1, 2.0),
        (2, 2, 3.0),
    ]
    assert ds.meta["load_report"]["skipped"] == 1 and ds.meta["load_report"]["duplicates"] == 1
    with pytest.raises(DataError, match="user 2, item 1: rating not finite or outside"):
        load_dataset(DataConfig(name="ml-100k", path=folder, strict=True))


def test_amazon_messages_cut_huge_values(tmp_path):
    huge = "9" * 100_000
    lines = [_review("u", "a"), json.dumps({"reviewerID": "u", "asin": "b", "overall": huge,
                                            "unixReviewTime": 1})]  # fmt: skip
    path = _dump(tmp_path / "reviews_Books_5.json.gz", lines)
    with pytest.raises(DataError) as err:
        read_reviews(path, strict=True)
    assert ":2: rating" in str(err.value) and len(str(err.value)) < 400
