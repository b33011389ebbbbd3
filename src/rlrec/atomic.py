"""Atomic artefact writes and content hashes.

Every artefact rlrec writes goes through `atomic_path`: the bytes land in a temporary file beside
the destination, which is renamed over it only once complete. A crash or Ctrl-C mid-write leaves
the previous artefact (or nothing) in place, never a truncated file. The temporary file is named
`.<dest name>.<pid>.<random>.tmp`; `remove_stale_temporaries` deletes those whose process is gone
(what a `kill -9` leaves), never one a live process is still writing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

TMP_SUFFIX = ".tmp"


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path; on normal exit it replaces `dest`, on error it is deleted."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{dest.name}.{os.getpid()}.", suffix=TMP_SUFFIX, dir=dest.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes owner-only files; follow the umask
    try:
        yield tmp_path
        os.replace(tmp_path, dest)
    finally:
        tmp_path.unlink(missing_ok=True)


def remove_stale_temporaries(folder: str | os.PathLike[str], recursive: bool = True) -> int:
    """Delete the temporaries (`.<name>.<pid>.<random>.tmp`, files of `atomic_path` or folders
    being assembled) under `folder` whose writer is no longer running on this host. Returns how
    many were removed."""
    folder = Path(folder)
    pattern = f".*{TMP_SUFFIX}"
    found = folder.rglob(pattern) if recursive else folder.glob(pattern)
    removed = 0
    for path in list(found):
        if _writer_alive(path.name):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed += 1
    return removed


def _writer_alive(name: str) -> bool:
    """Whether the process named in `.<dest>.<pid>.<random>.tmp` still runs (False when the name
    carries no pid: an older rlrec's leftover)."""
    parts = name.removesuffix(TMP_SUFFIX).split(".")
    pid = parts[-2] if len(parts) >= 4 else ""
    if not pid.isdigit() or int(pid) == 0:
        return False
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def write_bytes(dest: str | os.PathLike[str], data: bytes) -> Path:
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)
    return Path(dest)


def write_text(dest: str | os.PathLike[str], text: str) -> Path:
    return write_bytes(dest, text.encode("utf-8"))


def write_json(dest: str | os.PathLike[str], obj: Any) -> Path:
    return write_text(dest, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_parquet(dest: str | os.PathLike[str], frame: Any) -> Path:
    """Write a pandas DataFrame as Parquet (index dropped)."""
    with atomic_path(dest) as tmp:
        frame.to_parquet(tmp, index=False)
    return Path(dest)


def write_npy(dest: str | os.PathLike[str], array: np.ndarray) -> Path:
    with atomic_path(dest) as tmp, open(tmp, "wb") as f:
        np.save(f, array, allow_pickle=False)
    return Path(dest)


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_json(obj: Any) -> str:
    """Hash of a JSON-serialisable object, independent of dict key order."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
