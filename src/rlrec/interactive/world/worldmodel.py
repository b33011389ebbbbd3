"""The world model: the simulated user every interactive policy is trained and evaluated against.

A `WorldModel` holds, per user split ("train" drives demonstrations and training, "test" drives
evaluation; the two user sets are disjoint, as in BiLLP):
    rewards[split]      [U_split, I] float32  the reward of recommending item i to user u
    uncertainty[split]  [U_split, I] float32  ensemble variance (DORL/MOPO penalties); optional
    users[split]        [U_split]             raw user ids, in row order
and, for the quit rule, either `item_embeddings` [I, d] (distance = Euclidean distance between
embeddings, computed on demand) or dense `distance_matrices[split]` [I, I] (BiLLP's own
artefacts), plus `distance_threshold` (or a split's own one in `thresholds`, set by
`calibration` when the train and evaluation worlds differ, as BiLLP's two worlds do). `items`
lists the catalogue in column order (`item_id`, and `title` / `genres` where known).

Two ways to obtain one (`world_builder.make_world_model` picks):

- `world_model_from_billp` (here): BiLLP's own matrices as they are: rows
  = users of the split (user id = row index), one column per item id, BiLLP's distance
  matrices, and the release's leave thresholds (15 for Amazon, 50 for Steam;
  docs/ilrec.md#the-quit-rule).
- `world_builder.build_world_model`: learned from the logs, as IL-Rec describes (a
  DeepFM-style rating model); `world_builder` says how.

This module needs no torch: saving, loading and BiLLP's matrices work without importing it.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rlrec.atomic import write_json, write_npy, write_parquet
from rlrec.data.dataset import Dataset
from rlrec.errors import DataError

__all__ = [
    "BILLP_THRESHOLDS",
    "REWARD_RANGE",
    "SPLITS",
    "WorldModel",
    "has_billp_arrays",
    "pairwise_euclidean",
    "standard_users",
    "world_model_from_billp",
]

SPLITS = ("train", "test")
REWARD_RANGE = (0.0, 5.0)  # BiLLP's scale: the quit rule is reward < 2
BILLP_THRESHOLDS = {"amazon": 15.0, "steam": 50.0}  # ILRecEnv leave_threshold (docs/ilrec.md)


def standard_users(test_users: np.ndarray, n: int = 100, seed: int = 233) -> np.ndarray:
    """BiLLP's standard test users: sorted ids, `random.Random(seed).shuffle`, first n."""
    ids = sorted(np.asarray(test_users).tolist())
    random.Random(seed).shuffle(ids)
    return np.asarray(ids[: min(n, len(ids))])


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
    thresholds: dict[str, float] = field(default_factory=dict)  # a split's own threshold

    @property
    def n_items(self) -> int:
        return len(self.items)

    def threshold(self, split: str) -> float:
        """The distance threshold of `split`'s quit rule: its own, else `distance_threshold`."""
        return float(self.thresholds.get(split, self.distance_threshold))

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
        meta = {
            "distance_threshold": self.distance_threshold,
            "thresholds": self.thresholds,
            **self.meta,
        }
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
            thresholds={s: float(t) for s, t in meta.pop("thresholds", {}).items()},
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


# -- BiLLP's own matrices ------------------------------------------------------------------------


def has_billp_arrays(ds: Dataset) -> bool:
    names = ds.arrays.keys()
    return {"reward_train", "reward_test"} <= names and bool(
        {"distance_train", "distance_test"} & names
    )


def world_model_from_billp(ds: Dataset, distance_threshold: float | None = None) -> WorldModel:
    """BiLLP's reward and distance matrices, unchanged (docs/ilrec.md#world-model-and-environment).

    users[split] = row indices (BiLLP's `userid_encoded`); the threshold defaults to the
    release's leave_threshold for the dataset (15 Amazon, 50 Steam). A split without its own
    distance matrix uses the other split's (noted in `meta["distance_fallback"]`).
    """
    missing = [k for k in ("reward_train", "reward_test") if k not in ds.arrays]
    distances = {s: ds.arrays[f"distance_{s}"] for s in SPLITS if f"distance_{s}" in ds.arrays}
    if missing or not distances:
        need = missing + ([] if distances else ["distance_train or distance_test"])
        raise DataError(f"{ds.name} lacks BiLLP's {', '.join(need)}: build a learned world model")
    dataset = ds.name.removeprefix("billp-")
    if distance_threshold is None:
        if dataset not in BILLP_THRESHOLDS:
            raise DataError(
                f"no known BiLLP distance threshold for {ds.name!r} (known: "
                f"{', '.join(f'billp-{k}' for k in BILLP_THRESHOLDS)}); pass distance_threshold"
            )
        distance_threshold = BILLP_THRESHOLDS[dataset]
    fallback = {s: next(iter(distances)) for s in SPLITS if s not in distances}
    for split, other in fallback.items():
        distances[split] = distances[other]
    rewards = {
        s: np.asarray(ds.arrays[f"reward_{s}"]).astype(np.float32, copy=False) for s in SPLITS
    }
    n_items = rewards["train"].shape[1]
    items = pd.DataFrame({"item_id": np.arange(n_items, dtype=np.int64)})
    if len(ds.items):
        items = items.merge(ds.items, on="item_id", how="left")
    meta = {
        "source": "billp",
        "dataset": ds.name,
        "n_items": n_items,
        "users": {s: int(rewards[s].shape[0]) for s in SPLITS},
        "distance_threshold_source": "ILRecEnv leave_threshold (docs/ilrec.md#the-quit-rule)",
        "distance_fallback": fallback,
        "episode_length": {},  # filled by the worldmodel stage: mean Len of naive policies
    }
    return WorldModel(
        rewards=rewards,
        users={s: np.arange(rewards[s].shape[0], dtype=np.int64) for s in SPLITS},
        items=items,
        distance_threshold=float(distance_threshold),
        distance_matrices={
            s: np.asarray(d).astype(np.float32, copy=False) for s, d in distances.items()
        },
        meta=meta,
    )
