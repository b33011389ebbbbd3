"""The restricted unpickler: numeric NumPy arrays in, anything else refused."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from rlrec.data.numpy_pickle import load_numpy_pickle, loads_numpy_pickle
from rlrec.errors import DataError


@pytest.mark.parametrize(
    "obj",
    [
        np.array([1, "a"], dtype=object),
        np.array(["text"]),
        np.zeros(2, dtype=[("a", "f4")]),
        [np.zeros(2)],
        {"mat": np.zeros(2)},
        np.float64(1.0),
    ],
    ids=["object", "unicode", "structured", "list", "dict", "scalar"],
)
def test_non_numeric_array_pickles_are_refused(obj: object) -> None:
    with pytest.raises(DataError, match="only"):
        loads_numpy_pickle(pickle.dumps(obj))


def test_pickled_dtype_flags_are_ignored() -> None:
    # np.dtype.__setstate__ would accept the "holds objects" flag on a float dtype; ours drops it
    data = pickle.dumps(np.zeros(2), protocol=2)
    forged = data.replace(b"J\xff\xff\xff\xffK\x00t", b"J\xff\xff\xff\xffK\x01t")
    assert forged != data
    array = loads_numpy_pickle(forged)
    assert array.dtype == np.float64 and not array.dtype.hasobject


@pytest.mark.parametrize("protocol", range(6))
@pytest.mark.parametrize("dtype", ["float32", ">f8", "int64", "bool", "complex64"])
def test_numpy_pickles_round_trip(protocol: int, dtype: str) -> None:
    for array in (np.arange(12).reshape(3, 4).astype(dtype), np.zeros((2, 0), dtype=dtype)):
        for layout in (array, np.asfortranarray(array)):
            back = loads_numpy_pickle(pickle.dumps(layout, protocol=protocol))
            assert back.dtype == layout.dtype and np.array_equal(back, layout)


def test_corrupt_pickles(tmp_path: Path) -> None:
    path = tmp_path / "m.pickle"
    path.write_bytes(pickle.dumps(np.zeros((50, 50)))[:300])
    with pytest.raises(DataError, match=r"m\.pickle is not a readable pickle"):
        load_numpy_pickle(path)
    with pytest.raises(DataError, match="cannot read"):
        load_numpy_pickle(tmp_path / "absent.pickle")
