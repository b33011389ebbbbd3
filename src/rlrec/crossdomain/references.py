"""Reference rows of every cold-start table: what a method must beat, and what none can beat
(docs/marco.md#reading-a-results-table).

    global-mean   the mean of the target ratings the target MF may see (a constant)
    item-mean     the item's mean target rating, damped toward the global mean (mf.py)
    warm          upper reference, not a cold-start method: the same target MF fitted with the
                  test users' own target ratings, by 2-fold cross-fitting (each test rating is
                  predicted by the fit that saw the user's other half), i.e. the error the
                  target model reaches once the user is no longer cold
    oracle        synthetic data only: the planted expected stars (no model beats it on average)
    ideal-all     synthetic data only: E[stars | the user's planted tastes in every source]
    ideal[<src>]  synthetic data only: E[stars | the user's planted taste in one source]
A transfer method that is not clearly below item-mean has transferred nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rlrec.crossdomain.domains import CrossDomainTask, Ratings
from rlrec.crossdomain.mf import MF, MFConfig, damped_item_means, fit_mf

__all__ = [
    "REFERENCES",
    "TRUTH_REFERENCES",
    "Truth",
    "fit_reference",
    "load_truth",
]

REFERENCES = ("global-mean", "item-mean", "warm", "oracle", "ideal-all", "ideal-each")
TRUTH_REFERENCES = ("oracle", "ideal-all", "ideal-each")


@dataclass
class Constant:
    value: float

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return np.full(len(users), self.value)


@dataclass
class ItemTable:
    values: np.ndarray  # [n_items + 1]

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.values[np.asarray(items)]


@dataclass
class CrossFitted:
    """Two MFs; a (user, item) pair held out of fit f is predicted by fit f, any other pair
    (an unrated ranking candidate) by fit 0."""

    fits: tuple[MF, MF]
    keys: np.ndarray  # sorted user * n_items + item of the held-out test ratings
    fold: np.ndarray  # their fold, in `keys` order
    n_items: int

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        key = np.asarray(users) * self.n_items + np.asarray(items)
        pos = np.searchsorted(self.keys, key).clip(max=max(len(self.keys) - 1, 0))
        hit = (self.keys[pos] == key) if len(self.keys) else np.zeros(len(key), bool)
        fold = np.where(hit, self.fold[pos] if len(self.keys) else 0, 0)
        pred = self.fits[0].predict(users, items)
        return np.where(fold == 1, self.fits[1].predict(users, items), pred)


@dataclass
class Truth:
    """The planted truth of a synthetic dataset (data/synthetic/amazon_sparse.py)."""

    arrays: dict[str, np.ndarray]

    def indices(self, task: CrossDomainTask) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(truth user index per task user, truth item index per task item, by domain)."""
        users = _positions(self.arrays["user_ids"], task.user_ids)
        names = list(self.arrays["domains"])
        items = {
            d: _positions(self.arrays["item_ids"][names.index(d)], ids)
            for d, ids in task.item_ids.items()
        }
        return users, items


class TruthPredictor:
    """A planted-truth predictor (`key`: oracle, ideal-all, ideal[<source>]) for the target
    domain of `task`; the task's ids are mapped to the truth's once, here."""

    def __init__(self, truth: Truth, task: CrossDomainTask, key: str) -> None:
        names = list(truth.arrays["domains"])
        self.arrays = truth.arrays
        self.target = names.index(task.target)
        self.sources = [names.index(s) for s in task.sources]
        users, items = truth.indices(task)
        self.user_index, self.item_index = users, items[task.target]
        self.key = f"ideal[{names.index(key[6:-1])}]" if key.startswith("ideal[") else key

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        from rlrec.data.synthetic.amazon_sparse import truth_predictions

        preds = truth_predictions(
            self.arrays,
            self.target,
            self.sources,
            self.user_index[np.asarray(users)],
            self.item_index[np.asarray(items)],
        )
        return preds[self.key]


def _positions(universe: np.ndarray, ids: np.ndarray) -> np.ndarray:
    order = np.argsort(universe)
    pos = np.searchsorted(universe, ids, sorter=order).clip(max=len(universe) - 1)
    found = order[pos]
    if not np.array_equal(universe[found], ids):
        raise ValueError("the dataset's ids are not those of its truth.npz")
    return found


def load_truth(path: str | Path | None) -> Truth | None:
    """The truth beside a synthetic dataset's files, or None (real data)."""
    if path is None or not Path(path).is_file():
        return None
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return Truth(arrays) if "correlation" in arrays else None


def fit_reference(
    name: str, task: CrossDomainTask, mf: MF, cfg: MFConfig, truth: Truth | None, seed: int
):
    """The reference predictor `name` (module doc); `mf` is the task's target MF."""
    visible = task.target_mf_ratings()
    if name == "global-mean":
        return Constant(float(visible.rating.mean()))
    if name == "item-mean":
        n = task.n_items(task.target)
        return ItemTable(damped_item_means(visible.item, visible.rating.astype(float), n))
    if name == "warm":
        return _warm(task, visible, mf, cfg, seed)
    if truth is None:
        raise ValueError(f"reference {name!r} needs a synthetic dataset's truth")
    return TruthPredictor(truth, task, name)


def _warm(task: CrossDomainTask, visible: Ratings, mf: MF, cfg: MFConfig, seed: int):
    test = task.target_ratings("test")
    n_items = task.n_items(task.target)
    fold = np.random.default_rng(seed).integers(0, 2, len(test))
    one = cfg.model_copy(update={"dim": int(mf.info.get("dim", cfg.dim))})
    fits = []
    for f in (0, 1):
        seen = test.take(fold != f)
        ratings = Ratings(
            *(
                np.concatenate([getattr(visible, c), getattr(seen, c)])
                for c in ("user", "item", "rating", "timestamp")
            )
        )
        fits.append(fit_mf(ratings, task.n_users, n_items, one, seed + f))
    keys = test.user * n_items + test.item
    order = np.argsort(keys, kind="stable")
    return CrossFitted((fits[0], fits[1]), keys[order], fold[order], n_items)
