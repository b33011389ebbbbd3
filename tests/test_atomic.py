import json

import numpy as np
import pandas as pd
import pytest

from rlrec.atomic import atomic_path, sha256_json, write_json, write_npy, write_parquet, write_text


def test_failure_mid_write_keeps_the_old_artefact(tmp_path):
    dest = tmp_path / "artefact.txt"
    write_text(dest, "old")
    with pytest.raises(RuntimeError), atomic_path(dest) as tmp:
        tmp.write_text("half of the new con")
        raise RuntimeError("killed mid-write")
    assert dest.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["artefact.txt"]  # no temp file left


def test_failed_parquet_write_keeps_the_old_table(tmp_path):
    dest = tmp_path / "table.parquet"
    write_parquet(dest, pd.DataFrame({"a": [1, 2]}))
    bad = pd.DataFrame({"a": [object(), object()]})  # pyarrow cannot serialise this
    with pytest.raises(Exception):  # noqa: B017 - whatever pyarrow raises
        write_parquet(dest, bad)
    assert pd.read_parquet(dest)["a"].tolist() == [1, 2]
    assert len(list(tmp_path.iterdir())) == 1


def test_writers_produce_readable_files(tmp_path):
    write_json(tmp_path / "x.json", {"b": 1, "a": [1, 2]})
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": [1, 2], "b": 1}
    write_npy(tmp_path / "x.npy", np.arange(6).reshape(2, 3))
    assert np.load(tmp_path / "x.npy").tolist() == [[0, 1, 2], [3, 4, 5]]
    write_text(tmp_path / "deep" / "er" / "x.txt", "made parents")
    assert (tmp_path / "deep" / "er" / "x.txt").read_text() == "made parents"


def test_json_hash_ignores_key_order():
    assert sha256_json({"a": 1, "b": [1, 2]}) == sha256_json({"b": [1, 2], "a": 1})
    assert sha256_json({"a": 1}) != sha256_json({"a": 2})


def test_artefacts_follow_the_umask(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        path = write_text(tmp_path / "shared.txt", "readable by the group")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
