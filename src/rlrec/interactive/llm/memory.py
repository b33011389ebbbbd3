"""A small vector memory for the LLM expert's planner, actor and critic
(docs/ilrec.md#the-llm-expert).

Keys are texts embedded to unit vectors; values are anything. `search(text, k)` returns the k
nearest values with their **squared L2 distance**, as FAISS `IndexFlatL2` (and LangChain's FAISS
store, which BiLLP used) reports it: for unit vectors, score = 2 - 2 cos, so 0 is identical and
BiLLP's thresholds (actor: 0.3 < score < 0.5 or score < 0.01; critic: score < 0.01) apply as is.

FAISS is used when installed (`faiss-cpu`); otherwise an exact NumPy search gives the same
answers. The embedders (`rlrec.interactive.text.embeddings`) turn the key texts into vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rlrec.interactive.text.embeddings import Embedder, NgramEmbedder

__all__ = ["Embedder", "NgramEmbedder", "VectorMemory"]


class VectorMemory:
    """Exact nearest-neighbour memory: `add(key_text, value)`, `search(text, k)`."""

    def __init__(self, embedder: Embedder, use_faiss: bool = True) -> None:
        self.embedder = embedder
        self.values: list[Any] = []
        self.keys: list[str] = []
        self._vectors: np.ndarray | None = None  # [N, d] for the NumPy search
        self._index: Any = None
        self._faiss = _import_faiss() if use_faiss else None

    def __len__(self) -> int:
        return len(self.values)

    def add(self, key_text: str, value: Any) -> None:
        self.add_many([key_text], [value])

    def add_many(self, key_texts: Sequence[str], values: Sequence[Any]) -> None:
        if len(key_texts) != len(values):
            raise ValueError("add_many needs one value per key")
        if not key_texts:
            return
        vectors = np.ascontiguousarray(self.embedder.encode(list(key_texts)), dtype=np.float32)
        if self._faiss is not None:
            if self._index is None:
                self._index = self._faiss.IndexFlatL2(vectors.shape[1])
            self._index.add(vectors)
        else:
            old = self._vectors
            self._vectors = vectors if old is None else np.concatenate([old, vectors])
        self.keys.extend(key_texts)
        self.values.extend(values)

    def search(self, text: str, k: int = 1) -> list[tuple[Any, float]]:
        """The k nearest values, nearest first, with their squared L2 distances."""
        if not self.values or k < 1:
            return []
        k = min(k, len(self.values))
        query = np.ascontiguousarray(self.embedder.encode([text]), dtype=np.float32)
        if self._faiss is not None:
            scores, rows = self._index.search(query, k)
            scores, rows = scores[0], rows[0]
        else:
            d2 = ((self._vectors - query) ** 2).sum(axis=1)
            rows = np.argsort(d2, kind="stable")[:k]
            scores = d2[rows]
        return [(self.values[int(r)], float(s)) for r, s in zip(rows, scores, strict=True)]

    def clear(self) -> None:
        self.values, self.keys, self._vectors, self._index = [], [], None, None


def _import_faiss() -> Any:
    import logging

    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # its INFO lines are noise
    try:
        import faiss
    except ImportError:
        return None
    return faiss
