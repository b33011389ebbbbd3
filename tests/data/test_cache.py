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
