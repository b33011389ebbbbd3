"""Amazon review dumps: parsing, validation (lenient and strict), domains, k-core, and the
seeded `synthetic-amazon` generator."""

from __future__ import annotations

import gzip
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rlrec.data.amazon import SPEC, domain_of, kcore_mask, read_reviews
from rlrec.data.registry import DataConfig, load_dataset
from rlrec.data.synthetic import SyntheticConfig
from rlrec.data.synthetic.amazon import domain_names, write_amazon
from rlrec.errors import DataError


def review(user: str = "AUSER0000001", item: str = "B000000001", **fields) -> dict:
    """A 2014-format record; `fields` override or add keys."""
    record = {
        "reviewerID": user,
        "asin": item,
        "reviewerName": "Ann",
        "helpful": [1, 2],
        "reviewText": "Fine.",
        "overall": 4.0,
        "summary": "ok",
        "unixReviewTime": 1300000000,
        "reviewTime": "03 13, 2011",
    }
    return {**record, **fields}


def write(path: Path, lines: list[dict | str], *, compress: bool = True, end: str = "\n") -> Path:
    """Write records (dicts) and raw text lines (str) as JSON lines, gzip by default."""
    text = "\n".join(json.dumps(x) if isinstance(x, dict) else x for x in lines) + end
    data = text.encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return path


def ratings_of(ds) -> list[tuple]:
    inter = ds.interactions
    return list(zip(inter["user_id"], inter["item_id"], inter["rating"], strict=True))


# ---- a file with bad lines: lenient, strict, CLI -------------------------------------------


@pytest.fixture
def bad_file(tmp_path: Path) -> Path:
    good = [review(f"AUSER{n:08d}", f"B{n:09d}", overall=float(n)) for n in range(1, 6)]
    truncated = json.dumps(review("AUSERTRUNC", "BTRUNC"))[:40]  # cut mid-JSON, no newline
    lines = [
        good[0],  # 1
        good[1],  # 2
        "this is not JSON {",  # 3
        review("AUSERBAD", "BBAD", overall=7.0),  # 4
        {k: v for k, v in review("AUSERNOASIN").items() if k != "asin"},  # 5
        good[2],  # 6
        "",  # 7: blank, ignored
        good[3],  # 8
        good[4],  # 9
        truncated,  # 10
    ]
    return write(tmp_path / "dumps" / "reviews_Books_5.json.gz", lines, end="")


def test_lenient_skips_and_reports_bad_lines(bad_file: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="rlrec"):
        ds = read_reviews(bad_file)
    assert ds.name == "amazon"
    assert ds.interactions["user_id"].tolist() == [f"AUSER{n:08d}" for n in range(1, 6)]
    assert ds.interactions["rating"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert ds.interactions["rating"].dtype == np.float32
    assert ds.interactions["timestamp"].dtype == np.int64
    assert set(ds.interactions["domain"]) == {"Books"}
    report = ds.meta["load_report"]
    assert report["skipped"] == 4
    assert report["reasons"] == {
        "not JSON": 1,
        "bad rating": 1,
        "missing field": 1,
        "truncated line": 1,
    }
    assert report["examples"] == [
        f"{bad_file}:3: not JSON",
        f"{bad_file}:4: rating 7 out of range [1, 5]",
        f"{bad_file}:5: missing asin",
        f"{bad_file}:10: truncated line",
    ]
    assert "skipped 4" in caplog.text
    assert ds.meta["formats"] == {"Books": "2014"}
    assert ds.items.columns.tolist() == ["item_id", "domain"]
    assert len(ds.users) == 5


def test_strict_raises_at_the_first_bad_line(bad_file: Path) -> None:
    with pytest.raises(DataError, match=rf"^{bad_file}:3: not JSON$"):
        read_reviews(bad_file, strict=True)


def test_cli_strict_exits_2_naming_the_line(bad_file: Path) -> None:
    cmd = [sys.executable, "-m", "rlrec", "data", "info", "amazon"]
    result = subprocess.run(
        [*cmd, "--path", str(bad_file.parent), "--strict"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "reviews_Books_5.json.gz:3: not JSON" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("fields", "category", "reason"),
    [
        ({"reviewerID": ""}, "missing field", "missing reviewerID"),
        ({"asin": 12}, "bad id", "asin is not a string (int)"),
        ({"overall": "5"}, "bad rating", "rating '5' is not a number"),
        ({"overall": 0.5}, "bad rating", "rating 0.5 out of range [1, 5]"),
        ({"overall": True}, "bad rating", "rating True is not a number"),
        ({"unixReviewTime": "12ab"}, "bad timestamp", "unixReviewTime '12ab' is not an integer"),
        ({"unixReviewTime": 1.5}, "bad timestamp", "unixReviewTime 1.5 is not an integer"),
    ],
)
def test_field_checks(tmp_path: Path, fields: dict, category: str, reason: str) -> None:
    path = write(tmp_path / "reviews_Books_5.json.gz", [review(), review(**fields)])
    ds = read_reviews(path)
    assert len(ds.interactions) == 1
    assert ds.meta["load_report"]["reasons"] == {category: 1}
    assert ds.meta["load_report"]["examples"] == [f"{path}:2: {reason}"]


def test_lenient_accepts_what_it_can_coerce(tmp_path: Path) -> None:
    lines = [
        review(unixReviewTime="1300000001"),
        review(item="B000000002", overall=3, unixReviewTime=1.3e9),
        "[1, 2]",
    ]
    ds = read_reviews(write(tmp_path / "reviews_Books_5.json.gz", lines))
    assert ds.interactions["timestamp"].tolist() == [1300000001, 1300000000]
    assert ds.interactions["rating"].tolist() == [4.0, 3.0]
    assert ds.meta["load_report"]["reasons"] == {"not an object": 1}


def test_truncated_gzip_stream_is_reported(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    records = [review(f"A{rng.integers(1 << 40):013d}", f"B{n:09d}") for n in range(400)]
    path = write(tmp_path / "reviews_Books_5.json.gz", records)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    ds = read_reviews(path)
    n = len(ds.interactions)
    assert 0 < n < 400
    report = ds.meta["load_report"]
    assert report["reasons"] == {"truncated file": 1}
    assert report["examples"][0].startswith(f"{path}:{n + 1}: truncated file")
    with pytest.raises(DataError, match=rf"{path}:{n + 1}: truncated file"):
        read_reviews(path, strict=True)


# ---- formats, files, domains ---------------------------------------------------------------


def test_2018_format(tmp_path: Path) -> None:
    base = {"overall": 5.0, "reviewerID": "AX", "asin": "B1", "unixReviewTime": 1500000000}
    lines = [
        {**base, "vote": "1,234", "verified": True, "style": {"Format:": " Hardcover"}},
        {**base, "asin": "B2", "verified": False, "reviewText": "no votes"},
    ]
    write(tmp_path / "Electronics_5.json.gz", lines)
    ds = read_reviews(tmp_path)
    assert ds.meta["formats"] == {"Electronics": "2018"}
    assert ds.interactions["vote"].tolist() == [1234, 0]
    assert ds.interactions["verified"].tolist() == [True, False]
    assert ds.domains == ["Electronics"]
    # with a 2014 file beside it, the 2014 rows have no vote or verified flag
    write(tmp_path / "reviews_Books_5.json.gz", [review()])
    mixed = read_reviews(tmp_path).interactions.set_index("domain")
    assert mixed.loc["Books", "vote"] is pd.NA and mixed.loc["Books", "verified"] is pd.NA
    assert mixed.loc["Electronics", "vote"].tolist() == [1234, 0]


def test_plain_json_and_gzip_detected_by_content(tmp_path: Path) -> None:
    write(tmp_path / "reviews_Books_5.json", [review(), review(item="B2")], compress=False)
    write(tmp_path / "Toys.json", [review(item="B3")])  # gzip bytes, no .gz suffix
    write(tmp_path / "notes.txt", ["ignored"], compress=False)
    ds = read_reviews(tmp_path)
    assert ds.interactions.groupby("domain").size().to_dict() == {"Books": 2, "Toys": 1}


def test_domain_names_from_file_names() -> None:
    assert domain_of(Path("reviews_CDs_and_Vinyl_5.json.gz")) == "CDs_and_Vinyl"
    assert domain_of(Path("Movies_and_TV_5.json.gz")) == "Movies_and_TV"
    assert domain_of(Path("Books.json.gz")) == "Books"
    assert domain_of(Path("Books.jsonl")) == "Books"


def test_several_domains_and_selection(tmp_path: Path) -> None:
    write(tmp_path / "reviews_Books_5.json.gz", [review(item=f"B{i}") for i in range(3)])
    write(tmp_path / "reviews_CDs_and_Vinyl_5.json.gz", [review(item="B0"), review(item="B9")])
    ds = read_reviews(tmp_path)
    assert ds.domains == ["Books", "CDs_and_Vinyl"]
    assert ds.interactions.groupby("domain").size().to_dict() == {"Books": 3, "CDs_and_Vinyl": 2}
    assert len(ds.items) == 5  # B0 is one item per domain
    assert ds.users["user_id"].tolist() == ["AUSER0000001"]
    assert ds.meta["formats"] == {"Books": "2014", "CDs_and_Vinyl": "2014"}

    only = read_reviews(tmp_path, domains=["CDs_and_Vinyl"])
    assert only.domains == ["CDs_and_Vinyl"]
    assert only.interactions["item_id"].tolist() == ["B0", "B9"]
    one_file = read_reviews(tmp_path / "reviews_Books_5.json.gz")
    assert one_file.domains == ["Books"]
    with pytest.raises(DataError, match=r"Toys not found; found: Books, CDs_and_Vinyl"):
        read_reviews(tmp_path, domains=["Toys"])


def test_no_files_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=str(tmp_path)):
        read_reviews(tmp_path)
    with pytest.raises(DataError, match="path not found"):
        read_reviews(tmp_path / "absent")


def test_kcore_per_domain_until_stable(tmp_path: Path) -> None:
    books = [("u1", "a"), ("u1", "b"), ("u2", "a"), ("u2", "b"), ("u3", "a"), ("u3", "c")]
    books.append(("u4", "c"))
    # u1 has 2 Books ratings but only 1 in CDs: removed from CDs alone
    cds = [("u4", "x"), ("u4", "y"), ("u5", "x"), ("u5", "y"), ("u1", "x")]
    for name, pairs in (("Books", books), ("CDs", cds)):
        write(tmp_path / f"reviews_{name}_5.json.gz", [review(u, i) for u, i in pairs])
    ds = read_reviews(tmp_path, kcore=2)
    # round 1 drops u4 (1 rating); then c has 1 rating; then u3 has 1: a cascade of 3 rounds
    kept = list(
        ds.interactions[["domain", "user_id", "item_id"]].itertuples(index=False, name=None)
    )
    assert kept == [
        ("Books", "u1", "a"),
        ("Books", "u1", "b"),
        ("Books", "u2", "a"),
        ("Books", "u2", "b"),
        ("CDs", "u4", "x"),
        ("CDs", "u4", "y"),
        ("CDs", "u5", "x"),
        ("CDs", "u5", "y"),
    ]
    assert ds.meta["kcore_removed"] == 4
    assert len(ds.items) == 4
    assert sorted(ds.users["user_id"]) == ["u1", "u2", "u4", "u5"]
    assert kcore_mask(ds.interactions, 3).sum() == 0
    assert len(read_reviews(tmp_path).interactions) == 12


def test_registry_spec_loads_and_caches(tmp_path: Path) -> None:
    write(tmp_path / "reviews_Books_5.json.gz", [review(item=f"B{i}") for i in range(3)])
    cfg = DataConfig(name="amazon", path=tmp_path, kcore=1)
    assert SPEC.fingerprint(cfg)["kcore"] == 1
    first = load_dataset(cfg)
    second = load_dataset(cfg)
    assert len(first.interactions) == 3
    pd.testing.assert_frame_equal(first.interactions, second.interactions)


# ---- synthetic-amazon ----------------------------------------------------------------------


def gz_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.json.gz"))}


SMALL = {"n_users": 60, "n_items": 40, "ratings_per_user": 10}


def test_synthetic_same_seed_same_bytes(tmp_path: Path) -> None:
    for fmt in ("2014", "2018"):
        cfg = SyntheticConfig(**SMALL, amazon_format=fmt)
        write_amazon(tmp_path / fmt / "a", cfg)
        write_amazon(tmp_path / fmt / "b", cfg)
        write_amazon(tmp_path / fmt / "c", cfg.model_copy(update={"seed": 1}))
        a, b, c = (gz_bytes(tmp_path / fmt / x) for x in "abc")
        assert len(a) == 3 and a == b
        assert a.keys() == c.keys() and all(a[k] != c[k] for k in a)
    assert sorted(gz_bytes(tmp_path / "2014" / "a")) == [
        "reviews_Books_5.json.gz",
        "reviews_CDs_and_Vinyl_5.json.gz",
        "reviews_Movies_and_TV_5.json.gz",
    ]
    assert "Books_5.json.gz" in gz_bytes(tmp_path / "2018" / "a")
    with (
        np.load(tmp_path / "2014" / "a" / "truth.npz") as t,
        np.load(tmp_path / "2014" / "b" / "truth.npz") as u,
    ):
        assert all(np.array_equal(t[k], u[k]) for k in t.files)
        assert t["taste"].shape == (3, 60, 6)
        assert t["item_factors"].shape == (3, 40, 6)


def test_synthetic_skips_a_complete_folder(tmp_path: Path) -> None:
    cfg = SyntheticConfig(**SMALL)
    write_amazon(tmp_path, cfg)
    before = gz_bytes(tmp_path)
    write_amazon(tmp_path, cfg.model_copy(update={"seed": 5}))  # truth.npz present: no work
    assert gz_bytes(tmp_path) == before


def test_synthetic_structure(tmp_path: Path) -> None:
    cfg = SyntheticConfig(n_users=100, n_items=50, ratings_per_user=8, n_domains=5, overlap=0.3)
    write_amazon(tmp_path, cfg)
    ds = read_reviews(tmp_path, strict=True)
    names = domain_names(5)
    assert names == ["Books", "CDs_and_Vinyl", "Movies_and_TV", "Electronics", "Domain5"]
    assert ds.domains == sorted(names)
    inter = ds.interactions
    n_domains = inter.groupby("user_id")["domain"].nunique()
    assert (n_domains == 5).sum() == 30  # exactly round(overlap * n_users) in every domain
    assert len(n_domains) == 100
    assert set(inter["rating"].unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert inter["rating"].nunique() >= 4
    per_user = inter.groupby(["domain", "user_id"])
    assert per_user.size().min() >= 5
    assert per_user["timestamp"].apply(lambda t: t.is_unique).all()
    assert not inter.duplicated(["domain", "user_id", "item_id"]).any()
    assert inter["user_id"].str.fullmatch(r"A[A-Z0-9]{13}").all()
    assert inter["item_id"].str.fullmatch(r"B[A-Z0-9]{9}").all()


def genre_agreement(folder: Path, taste_correlation: float) -> float:
    """Correlation, over (user, genre) pairs, of a user's mean rating on that genre in domain 1
    and in domain 2 (each centred on the user's mean in that domain)."""
    cfg = SyntheticConfig(
        n_users=150,
        n_items=80,
        n_genres=4,
        ratings_per_user=25,
        n_domains=2,
        overlap=1.0,
        taste_correlation=taste_correlation,
    )
    write_amazon(folder, cfg)
    inter = read_reviews(folder, strict=True).interactions
    with np.load(folder / "truth.npz") as truth:
        genre = dict(zip(truth["item_ids"].ravel(), truth["item_genre"].ravel(), strict=True))
    inter = inter.assign(genre=inter["item_id"].map(genre))
    user_mean = inter.groupby(["domain", "user_id"])["rating"].transform("mean")
    inter["centred"] = inter["rating"] - user_mean
    means = inter.groupby(["user_id", "genre", "domain"])["centred"].mean().unstack().dropna()
    assert len(means) > 300
    return float(means.corr().iloc[0, 1])


def test_synthetic_tastes_correlate_across_domains(tmp_path: Path) -> None:
    assert genre_agreement(tmp_path / "related", 0.8) > 0.35
    assert abs(genre_agreement(tmp_path / "unrelated", 0.0)) < 0.15


def test_synthetic_amazon_via_registry(caplog) -> None:
    cfg = DataConfig(
        name="synthetic-amazon", synthetic=SyntheticConfig(n_users=80, n_items=60, seed=1)
    )
    first = load_dataset(cfg)
    with caplog.at_level(logging.INFO, logger="rlrec"):
        second = load_dataset(cfg)
    assert "cache hit" in caplog.text
    assert first.name == second.name == "synthetic-amazon"
    assert first.domains == ["Books", "CDs_and_Vinyl", "Movies_and_TV"]
    pd.testing.assert_frame_equal(first.interactions, second.interactions)
    pd.testing.assert_frame_equal(first.items, second.items)
