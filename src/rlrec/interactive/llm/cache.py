"""The on-disk LLM response cache and the usage counters every backend keeps.

An entry is content-addressed: its key is the sha256 of the JSON of the request (backend, model,
kind, messages, parameters such as temperature / seed / max_tokens; never an API key). The value
is one JSON file `<dir>/<key[:2]>/<key>.json` holding the request and the response, written
atomically, so a killed run never leaves a half-written entry. The replay backend reads the same
files.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from rlrec.atomic import sha256_json, write_json


def cache_key(request: dict[str, Any]) -> str:
    """sha256 of the request's JSON, independent of dict key order."""
    return sha256_json(request)


class ResponseCache:
    """A folder of `<key>.json` files: {"key", "request", "response"}."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder).expanduser()

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The recorded response for `key`, or None on a miss."""
        path = self.path(key)
        try:
            return json.loads(path.read_text(encoding="utf-8"))["response"]
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, KeyError):
            return None  # an unreadable entry is a miss; the next put replaces it

    def put(self, key: str, request: dict[str, Any], response: dict[str, Any]) -> None:
        write_json(self.path(key), {"key": key, "request": request, "response": response})


@dataclass
class Usage:
    """What a backend spent. `calls` counts every call; tokens and latency count only the calls
    that reached the model (cache misses); `tries` counts HTTP attempts, retries included."""

    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    tries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **amounts: float) -> None:
        with self._lock:
            for name, value in amounts.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "_lock"}
