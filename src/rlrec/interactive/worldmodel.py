"""The world model: the simulated user every interactive policy is trained and evaluated against.

A `WorldModel` holds, per user split ("train" drives demonstrations and training, "test" drives
evaluation; the two user sets are disjoint, as in BiLLP):
    rewards[split]      [U_split, I] float32  the reward of recommending item i to user u
    uncertainty[split]  [U_split, I] float32  ensemble variance (DORL/MOPO penalties); optional
    users[split]        [U_split]             raw user ids, in row order
and, for the quit rule, either `item_embeddings` [I, d] (distance = Euclidean distance between
embeddings, computed on demand) or dense `distance_matrices[split]` [I, I] (BiLLP's own
artefacts), plus `distance_threshold`. `items` lists the catalogue in column order (`item_id`,
and `title` / `genres` where known).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rlrec.atomic import write_json, write_npy, write_parquet
from rlrec.errors import DataError

SPLITS = ("train", "test")


@dataclass
class WorldModel:
    rewards: dict[str, np.ndarray]
    users: dict[str, np.ndarray]
    items: pd.DataFrame
    distance_threshold: float
    item_embeddings: np.ndarray | None = None
    distance_matrices: dict[str, np.ndarray] = field(default_factory=dict)
    uncertainty: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def distances(self, split: str) -> np.ndarray:
        """Dense [I, I] float32 item-item distances for `split` (computed once, then kept)."""
        if split not in self.distance_matrices:
            if self.item_embeddings is None:
                raise DataError(f"world model has no item distances for split {split!r}")
            dense = pairwise_euclidean(self.item_embeddings)
            for s in SPLITS:  # learned models share one item space across splits
                self.distance_matrices.setdefault(s, dense)
        return self.distance_matrices[split]

    def save(self, folder: str | Path) -> list[Path]:
        """Write every array as .npy plus `world.json`; returns the files written."""
        folder = Path(folder)
        out = []
        for split in SPLITS:
            out.append(write_npy(folder / f"rewards_{split}.npy", self.rewards[split]))
            out.append(write_npy(folder / f"users_{split}.npy", np.asarray(self.users[split])))
            if split in self.uncertainty:
                out.append(write_npy(folder / f"uncertainty_{split}.npy", self.uncertainty[split]))
        if self.item_embeddings is not None:
            out.append(write_npy(folder / "item_embeddings.npy", self.item_embeddings))
        else:
            for split, matrix in self.distance_matrices.items():
                out.append(write_npy(folder / f"distances_{split}.npy", matrix))
        out.append(write_parquet(folder / "items.parquet", self.items))
        meta = {"distance_threshold": self.distance_threshold, **self.meta}
        out.append(write_json(folder / "world.json", meta))
        return out

    @classmethod
    def load(cls, folder: str | Path) -> WorldModel:
        """Read a saved world model; large matrices are memory-mapped read-only."""
        folder = Path(folder)
        if not (folder / "world.json").is_file():
            raise DataError(f"no world model in {folder} (world.json missing)")
        meta = json.loads((folder / "world.json").read_text(encoding="utf-8"))

        def npy(name: str) -> np.ndarray:
            return np.load(folder / name, mmap_mode="r", allow_pickle=False)

        def optional(name: str) -> dict[str, np.ndarray]:
            return {
                s: npy(f"{name}_{s}.npy") for s in SPLITS if (folder / f"{name}_{s}.npy").exists()
            }

        embeddings = folder / "item_embeddings.npy"
        return cls(
            rewards={s: npy(f"rewards_{s}.npy") for s in SPLITS},
            users={s: np.load(folder / f"users_{s}.npy", allow_pickle=False) for s in SPLITS},
            items=pd.read_parquet(folder / "items.parquet"),
            distance_threshold=float(meta.pop("distance_threshold")),
            item_embeddings=np.load(embeddings) if embeddings.exists() else None,
            distance_matrices=optional("distances"),
            uncertainty=optional("uncertainty"),
            meta=meta,
        )


def pairwise_euclidean(x: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """[N, d] -> [N, N] float32 Euclidean distances, in row chunks to bound memory."""
    x = np.asarray(x, dtype=np.float32)
    sq = (x * x).sum(1)
    out = np.empty((len(x), len(x)), dtype=np.float32)
    for start in range(0, len(x), chunk):
        block = x[start : start + chunk]
        d2 = sq[start : start + chunk, None] + sq[None, :] - 2.0 * block @ x.T
        np.sqrt(np.maximum(d2, 0.0), out=out[start : start + chunk])
    np.fill_diagonal(out, 0.0)
    return out
