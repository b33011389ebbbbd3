"""A restricted unpickler that rebuilds plain numeric NumPy arrays and nothing else.

Why: BiLLP ships its item-item distance matrices as `{train,test}_distance_mat.pickle`, written
with `pickle.dump(ndarray)`. Plain unpickling of a file from outside runs whatever callables the
file names (`os.system`, `builtins.eval`, ...), so rlrec never does it. This module reads such a
file with an unpickler whose `find_class` admits only the globals that NumPy's own pickles of an
array reference, for NumPy 1.x (`numpy.core.*`) and 2.x (`numpy._core.*`), protocols 0-5:

    numpy.{_core,core}.multiarray._reconstruct  protocols 0-4: empty array, then its state
    numpy.ndarray                               the class handed to `_reconstruct`
    numpy.dtype                                 the element type
    numpy.{_core,core}.numeric._frombuffer      protocol 5: buffer, dtype, shape, order
    _codecs.encode                              protocols 0-2: the data, `encode(str, 'latin1')`
    __builtin__.bytes, builtins.bytes           protocols 0-2: an empty array's data, `bytes()`

Every other global is refused with `DataError` before anything is called. Even the admitted
names are not bound to NumPy's functions: each maps to a small builder here that checks its
arguments and makes the array with `np.frombuffer(...).reshape(...)`. So the file's dtype state
never reaches `np.dtype.__setstate__` (which accepts arbitrary flags, e.g. "holds objects" on a
float dtype) and the array state never reaches `ndarray.__setstate__`.

Only dtypes of kind bool, int, uint, float or complex with no fields or sub-arrays are accepted
(`numpy.core.multiarray.scalar` is refused too: an array's pickle never needs it). The file must
hold one such array at the top level (BiLLP indexes its distance matrix as `mat[item_a, item_b]`),
not a list or dict of arrays. A corrupt or truncated file raises `DataError` naming the file.

Arrays rebuilt from protocols 0-4 (and read-only protocol-5 buffers) come back read-only: they are
views of the bytes read from the file.
"""

from __future__ import annotations

import io
import math
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from rlrec.errors import DataError

__all__ = ["load_numpy_pickle", "loads_numpy_pickle"]

NUMERIC_KINDS = "biufc"  # bool, signed int, unsigned int, float, complex


class _Refused(Exception):
    """A builder saw arguments that no NumPy array pickle holds; becomes a `DataError`."""


def _numeric_dtype(spec: Any) -> np.dtype:
    if not isinstance(spec, str):
        raise _Refused(f"dtype spec {spec!r:.80} is not a type string")
    try:
        dtype = np.dtype(spec)
    except (TypeError, ValueError) as exc:
        raise _Refused(f"unknown dtype {spec!r:.80}") from exc
    if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise _Refused(f"dtype {dtype} is not a plain numeric type")
    return dtype


class _Dtype:
    """Stands for `numpy.dtype(spec, align, copy)`; its pickled state may set byte order only."""

    __slots__ = ("dtype",)

    def __init__(self, spec: Any, align: Any = False, copy: Any = True) -> None:
        self.dtype = _numeric_dtype(spec)

    def __setstate__(self, state: Any) -> None:
        # NumPy's state: (version, byteorder, subarray, names, fields, elsize, alignment, flags).
        if not isinstance(state, tuple) or len(state) < 5:
            raise _Refused(f"unexpected dtype state {state!r}")
        byteorder, subarray, names, fields = state[1:5]
        if subarray is not None or names is not None or fields is not None:
            raise _Refused("structured or sub-array dtypes are not accepted")
        if byteorder in ("<", ">"):
            self.dtype = self.dtype.newbyteorder(byteorder)
        elif byteorder not in ("|", "="):
            raise _Refused(f"unexpected byte order {byteorder!r}")


class _NdarrayClass:
    """Stands for the `numpy.ndarray` class; only `_reconstruct` accepts it, nothing calls it."""

    __slots__ = ()


_NDARRAY = _NdarrayClass()


def _build(data: Any, dtype: Any, shape: Any, fortran: bool) -> np.ndarray:
    if not isinstance(dtype, _Dtype):
        raise _Refused("array dtype does not come from numpy.dtype")
    if not isinstance(shape, tuple) or not all(isinstance(s, int) and s >= 0 for s in shape):
        raise _Refused(f"bad array shape {shape!r}")
    if isinstance(data, str):  # Python 2 pickles hold the bytes as a latin-1 string
        data = data.encode("latin1")
    if isinstance(data, pickle.PickleBuffer):
        data = data.raw()
    if not isinstance(data, bytes | bytearray | memoryview):
        raise _Refused(f"array data is {type(data).__name__}, not bytes")
    count = math.prod(shape)
    if memoryview(data).nbytes != count * dtype.dtype.itemsize:
        raise _Refused(
            f"array data holds {memoryview(data).nbytes} bytes, "
            f"shape {shape} of {dtype.dtype} needs {count * dtype.dtype.itemsize}"
        )
    flat = np.frombuffer(data, dtype=dtype.dtype, count=count)
    return flat.reshape(shape, order="F" if fortran else "C")


class _ArrayState:
    """What `_reconstruct(ndarray, (0,), b'b')` returns; the pickle's BUILD fills it in."""

    __slots__ = ("array",)

    def __init__(self) -> None:
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        # NumPy's state: (version, shape, dtype, is_fortran, data); old pickles omit the version.
        if isinstance(state, tuple) and len(state) == 5:
            state = state[1:]
        if not isinstance(state, tuple) or len(state) != 4 or self.array is not None:
            raise _Refused("unexpected array state")
        shape, dtype, fortran, data = state
        self.array = _build(data, dtype, shape, bool(fortran))


def _reconstruct(cls: Any, shape: Any, typecode: Any) -> _ArrayState:
    if cls is not _NDARRAY:
        raise _Refused("_reconstruct is only accepted for numpy.ndarray")
    return _ArrayState()


def _frombuffer(data: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    if order not in ("C", "F"):
        raise _Refused(f"unexpected array order {order!r}")
    return _build(data, dtype, shape, order == "F")


def _latin1_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Refused("_codecs.encode is only accepted as encode(str, 'latin1')")
    return text.encode("latin1")


def _empty_bytes(*args: Any) -> bytes:
    if args:
        raise _Refused("bytes(...) is only accepted without arguments")
    return b""


_ALLOWED: dict[tuple[str, str], Any] = {
    **{(f"{m}.multiarray", "_reconstruct"): _reconstruct for m in ("numpy._core", "numpy.core")},
    **{(f"{m}.numeric", "_frombuffer"): _frombuffer for m in ("numpy._core", "numpy.core")},
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _Dtype,
    ("_codecs", "encode"): _latin1_encode,
    ("__builtin__", "bytes"): _empty_bytes,
    ("builtins", "bytes"): _empty_bytes,
}


class _NumpyUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` whose `find_class` admits only the names in `_ALLOWED`."""

    def __init__(self, file: io.BufferedIOBase, source: str) -> None:
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        allowed = _ALLOWED.get((module, name))
        if allowed is None:
            raise DataError(
                f"refused to unpickle {module}.{name} from {self.source}: "
                "only NumPy arrays are accepted"
            )
        return allowed

    def persistent_load(self, pid: Any) -> Any:
        raise DataError(f"refused a persistent id in {self.source}: only NumPy arrays are accepted")


def _load(file: io.BufferedIOBase, source: str) -> np.ndarray:
    try:
        obj = _NumpyUnpickler(file, source).load()  # restricted: NumPy arrays only
    except DataError:
        raise
    except _Refused as exc:
        raise DataError(
            f"refused to unpickle {source}: {exc}; only numeric NumPy arrays are accepted"
        ) from None
    except Exception as exc:  # a corrupt stream can fail in many ways; none is a bug of ours
        raise DataError(
            f"{source} is not a readable pickle of a NumPy array ({type(exc).__name__}: {exc})"
        ) from None
    if isinstance(obj, _ArrayState) and obj.array is not None:
        obj = obj.array
    if not isinstance(obj, np.ndarray):
        raise DataError(
            f"{source} holds an object of type {type(obj).__name__}, not a NumPy array; "
            "only a single numeric array is accepted"
        )
    return obj


def load_numpy_pickle(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one numeric NumPy array from the pickle file `path` without running its code.

    Raises `DataError` when the file is missing, corrupt, names any global other than NumPy's
    array builders, or holds anything but a single bool/int/float/complex array.
    """
    path = Path(path)
    try:
        with path.open("rb") as file:
            return _load(file, str(path))
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None


def loads_numpy_pickle(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """`load_numpy_pickle` for pickle bytes already in memory; `source` names them in errors."""
    return _load(io.BytesIO(data), source)
