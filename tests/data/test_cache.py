"""The dataset cache: a folder a killed fetch was assembling is removed by the next save."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd

from rlrec.data import cache
from rlrec.data.dataset import Dataset, interactions_frame


def _tiny() -> Dataset:
    return Dataset("tiny", interactions_frame([1], [2], [3.0], [0], "d"))


def test_a_killed_fetchs_folder_is_removed_by_the_next_save(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    stale = tmp_path / f".abc.{int(gone.stdout)}.q1w2e3.tmp"
    (stale / "inner").mkdir(parents=True)
    (stale / "inner" / "interactions.parquet").write_bytes(b"PAR1")
    other = tmp_path / "kept"  # another cache entry: untouched
    other.mkdir()
    folder = cache.save(_tiny(), tmp_path / "abc", {"fingerprint": {}})
    assert not stale.exists() and other.is_dir()
    loaded = cache.load(folder)
    pd.testing.assert_frame_equal(loaded.interactions, _tiny().interactions)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["abc", "kept"]


def test_a_damaged_cache_entry_is_parsed_again(tmp_path, caplog):
    from rlrec.data import DataConfig, load_dataset
    from rlrec.data.registry import cache_folder

    path = tmp_path / "ratings.csv"
    path.write_text("user_id,item_id,rating\n1,10,4\n2,10,5\n")
    cfg = DataConfig(name="ratings-csv", path=path)
    first = load_dataset(cfg)
    parquet = cache_folder(cfg) / "interactions.parquet"
    parquet.write_bytes(parquet.read_bytes()[:40])  # damaged after it was written
    caplog.set_level("INFO", logger="rlrec")
    again = load_dataset(cfg)
    assert "is damaged" in caplog.text and "parsing the source again" in caplog.text
    pd.testing.assert_frame_equal(again.interactions, first.interactions)
    caplog.clear()
    load_dataset(cfg)
    assert "cache hit" in caplog.text  # repaired
