"""Grounding free-text titles to catalogue items (docs/ilrec.md#demonstrations; DESIGN "LLM
expert").

A grounder is any callable `grounder(titles: list[str]) -> (item_ids [n] int64, similarity [n]
float32)` that names, for each title, its nearest catalogue item and how near it is. Exact title
matches are handled before a grounder is asked (`normalise_title`, `exact_lookup`).

`NgramGrounder` is the fallback used when the sentence-embedding model is not installed: TF-IDF
over hashed character 3-grams, cosine similarity. It needs nothing beyond NumPy and is
deterministic (the hash is CRC-32, not Python's salted `hash`). Each word is padded with spaces
before its 3-grams are taken, so word order does not matter ("Runaway Jury, The" and "The
Runaway Jury" have the same n-grams) and a typo changes only the few 3-grams around it.

The catalogue's TF-IDF vectors are kept as CSR arrays (indptr, indices, weights) in plain NumPy
rather than a dense [n_titles, 2^14] matrix, which would take 0.9 GB for BiLLP's 13,864 books;
the cosine of a chunk of queries is a gather + `np.add.reduceat` over those arrays.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "Grounder",
    "NgramGrounder",
    "display_catalogue",
    "display_title",
    "embedder_and_grounder",
    "exact_lookup",
    "make_grounder",
    "normalise_title",
]

Grounder = Callable[[list[str]], tuple[np.ndarray, np.ndarray]]

_QUOTES = "\"'`\u2018\u2019\u201c\u201d"
_NON_WORD = re.compile(r"[^\w]+")


_TRAILING_ARTICLE = re.compile(
    r"^(?P<rest>.+), (?P<article>The|A|An|Il|La|Le|Les|L'|Der|Die|Das|El|Los|Las|Det|Den)"
    r"(?P<tail>\s*\(.*\))?$"
)


def display_title(title: str) -> str:
    """A catalogue title as people (and LLMs) write it: MovieLens' "Shining, The" -> "The
    Shining" (a parenthesised suffix stays at the end). Other titles are returned unchanged."""
    match = _TRAILING_ARTICLE.match(title.strip())
    if match is None:
        return title
    article = match["article"]
    sep = "" if article.endswith("'") else " "
    return f"{article}{sep}{match['rest']}{match['tail'] or ''}"


def display_catalogue(catalogue: pd.DataFrame) -> pd.DataFrame:
    """`catalogue` with its `title` column in display form (what an LLM sees and writes)."""
    return catalogue.assign(title=catalogue["title"].astype(str).map(display_title))


def normalise_title(title: str) -> str:
    """Light normalisation for matching: surrounding quotes/whitespace removed, case folded."""
    return " ".join(title.strip().strip(_QUOTES).strip().casefold().split())


def exact_lookup(catalogue: pd.DataFrame) -> tuple[dict[str, int], dict[str, int]]:
    """Maps title -> item_id and normalised title -> item_id (the lowest id wins on a tie)."""
    ordered = catalogue.sort_values("item_id", kind="stable")
    exact: dict[str, int] = {}
    normalised: dict[str, int] = {}
    for item, title in zip(ordered["item_id"].tolist(), ordered["title"].tolist(), strict=True):
        exact.setdefault(str(title), int(item))
        normalised.setdefault(normalise_title(str(title)), int(item))
    return exact, normalised


class NgramGrounder:
    """Nearest catalogue title by TF-IDF cosine over hashed character 3-grams.

    Args:
        titles: the catalogue titles.
        item_ids: the id of each title (default: its position).
        dim: number of hash buckets (2^14).
        chunk: queries scored at once (bounds memory to chunk x n-grams of the catalogue).
    """

    def __init__(
        self,
        titles: Sequence[str],
        item_ids: Sequence[int] | np.ndarray | None = None,
        dim: int = 1 << 14,
        chunk: int = 32,
    ) -> None:
        self.dim = dim
        self.chunk = chunk
        self.titles_ = [str(t) for t in titles]
        n = len(self.titles_)
        self.item_ids_ = np.arange(n) if item_ids is None else np.asarray(item_ids, np.int64)
        if len(self.item_ids_) != n or n == 0:
            raise ValueError("NgramGrounder needs a non-empty catalogue with one id per title")
        rows = [self._counts(t) for t in self.titles_]
        df = np.zeros(dim, np.float64)
        for keys, _ in rows:
            df[keys] += 1
        self.idf_ = (np.log((1 + n) / (1 + df)) + 1).astype(np.float32)
        lengths = np.array([len(k) for k, _ in rows], np.int64)
        self.indptr_ = np.concatenate([[0], np.cumsum(lengths)])
        self.indices_ = np.concatenate([k for k, _ in rows]).astype(np.int64)
        weights = [self._weights(k, c) for k, c in rows]
        self.data_ = np.concatenate(weights).astype(np.float32)
        self._empty = lengths == 0

    @classmethod
    def from_catalogue(cls, catalogue: pd.DataFrame, **kwargs: int) -> NgramGrounder:
        """From a frame with `item_id` and `title` columns."""
        return cls(catalogue["title"].tolist(), catalogue["item_id"].to_numpy(), **kwargs)

    def _counts(self, title: str) -> tuple[np.ndarray, np.ndarray]:
        """Hash buckets of the title's padded-word 3-grams and their counts."""
        grams = []
        for word in _NON_WORD.sub(" ", title.casefold()).split():
            padded = f" {word} "
            grams.extend(padded[i : i + 3] for i in range(len(padded) - 2))
        if not grams:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        buckets = np.array([zlib.crc32(g.encode("utf-8")) % self.dim for g in grams], np.int64)
        keys, counts = np.unique(buckets, return_counts=True)
        return keys, counts.astype(np.float32)

    def _weights(self, keys: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Sublinear tf x idf, L2-normalised."""
        if len(keys) == 0:
            return counts
        w = (1 + np.log(counts)) * self.idf_[keys]
        return w / np.linalg.norm(w)

    def similarities(self, titles: Sequence[str]) -> np.ndarray:
        """Cosine similarity of each query with every catalogue title, [n_queries, n_titles]."""
        out = np.zeros((len(titles), len(self.titles_)), np.float32)
        starts = self.indptr_[:-1]
        for lo in range(0, len(titles), self.chunk):
            batch = titles[lo : lo + self.chunk]
            queries = np.zeros((len(batch), self.dim), np.float32)
            for row, title in enumerate(batch):
                keys, counts = self._counts(str(title))
                if len(keys):
                    queries[row, keys] = self._weights(keys, counts)
            if len(self.data_):
                products = queries[:, self.indices_] * self.data_  # [b, nnz]
                sims = np.add.reduceat(products, np.minimum(starts, len(self.data_) - 1), axis=1)
                sims[:, self._empty] = 0.0  # reduceat gives a neighbour's value for empty rows
                out[lo : lo + len(batch)] = sims
        return out

    def __call__(self, titles: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Nearest item id and its cosine similarity for each title (ties: the first title)."""
        if not titles:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        sims = self.similarities(titles)
        best = sims.argmax(axis=1)
        return self.item_ids_[best], sims[np.arange(len(titles)), best]


def make_grounder(catalogue: pd.DataFrame, kind: str = "embedding") -> Grounder:
    """`embedding` (all-MiniLM-L6-v2; falls back to `ngram` with a warning when the `llm` extra
    is not installed) or `ngram`, over a catalogue DataFrame with `item_id` and `title`.

    The grounder is built on its first call, so a run whose titles all match exactly never
    embeds the catalogue.
    """
    from rlrec.errors import ConfigError

    if kind not in ("embedding", "ngram"):
        raise ConfigError(f"unknown grounder {kind!r}; known: embedding, ngram")
    built: list[Grounder] = []

    def ground(titles: list[str]) -> tuple[np.ndarray, np.ndarray]:
        if not built:
            built.append(embedder_and_grounder(catalogue, kind)[1])
        return built[0](titles)

    return ground


def embedder_and_grounder(catalogue: pd.DataFrame, kind: str = "embedding") -> tuple[Any, Grounder]:
    """(text embedder, grounder) over `catalogue`: all-MiniLM-L6-v2 for both when `kind` is
    `embedding` and the `llm` extra is installed, else hashed character n-grams (with a
    warning when the embedding model was asked for)."""
    import logging

    from rlrec.errors import RlrecError
    from rlrec.interactive.text.embeddings import NgramEmbedder

    if kind == "embedding":
        from rlrec.interactive.text.embeddings import EmbeddingGrounder, SentenceEmbedder

        try:
            embedder = SentenceEmbedder()
            return embedder, EmbeddingGrounder.from_catalogue(catalogue, embedder)
        except RlrecError as err:
            logging.getLogger("rlrec").warning("%s; using character n-grams instead", err)
    return NgramEmbedder(), NgramGrounder.from_catalogue(catalogue)
