"""How a learned world model is built from the logs (docs/ilrec.md#world-model-and-environment), and
which source to use.

`make_world_model` returns BiLLP's own matrices (`worldmodel.world_model_from_billp`) when the
dataset carries them (or `WorldModelConfig.source` says so), else `build_world_model`: a
DeepFM-style rating model learned from the logs (`ratingmodels` holds MF and DeepFM, Guo et al.
2017; `ratingfit` trains them and predicts):
  1. users are split into disjoint train / test users (seeded; `test_user_fraction`), unless the
     interactions carry a `split` column naming both (then that split is kept), or
     `test_users` = n asks for BiLLP's n standard users of all users (sorted ids shuffled with
     `random.Random(233)`, `worldmodel.standard_users`) as the test split, the rest as train:
     BiLLP's Amazon test run is on exactly these users;
  2. the rating model is fit on the logs of *all* users, less a seeded held-out slice of the
     (user, item) rows: `val_fraction` for early stopping, `test_fraction` for the error
     reported in `meta["metrics"]`;
  3. rewards[split] = the model's prediction for that split's users over the whole catalogue.
     Explicit ratings: the predicted stars, clipped to [0, 5]. Implicit feedback (every rating
     NaN, e.g. BiLLP histories; trained with BCE against `negatives` sampled items per
     positive): reward = 5 σ(logit + log k), k = `negatives`. Adding log k undoes the 1:k
     sampling prior, so σ(·) is the engagement probability under a 1:1 prior and the quit
     rule "reward < 2" reads "estimated engagement probability < 0.4";
  4. an ensemble of `n_ensemble` models (different seeds, same data split) gives rewards = the
     members' mean reward and uncertainty = their variance (population variance, on the 0-5
     scale); with one member there is no `uncertainty` (the dict is empty);
  5. distances: Euclidean between the L2-normalised item vectors of member 0 (MF: the item
     factors q_i; DeepFM: the item-id field embedding), stored as `item_embeddings`; on unit
     vectors distances lie in [0, 2] for either model. The threshold is the
     `distance_quantile` quantile of the distances of sampled distinct item pairs.
  6. `calibration` (optional, per split): BiLLP's two worlds. Each named split's rewards,
     low-reward line and distance threshold are fitted to a recorded run of BiLLP's agent in
     that split's world (`calibration` module; a cached stage when a run is given).
  `meta` records the config, held-out metrics per member, their mean and the ensemble's
  (RMSE/MAE on the reward scale; AUC too for implicit data), the rating range, the quantile,
  user counts, training seconds, and `episode_length`, which the worldmodel stage fills with
  the mean episode length of naive policies (the threshold is `distance_threshold`).
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from rlrec.config import Config
from rlrec.data.dataset import Dataset
from rlrec.errors import DataError
from rlrec.interactive.world.calibration import CalibrationConfig, calibrate_world
from rlrec.interactive.world.worldmodel import (
    REWARD_RANGE,
    SPLITS,
    WorldModel,
    has_billp_arrays,
    standard_users,
    world_model_from_billp,
)

if TYPE_CHECKING:  # torch-backed modules load only when a model is built: configs stay light
    from rlrec.interactive.world import ratingfit as rf
    from rlrec.runs import Run

__all__ = ["WorldModelConfig", "auc", "build_world_model", "make_world_model", "to_reward"]

log = logging.getLogger("rlrec")

DEFAULT_WEIGHT_DECAY = {"explicit": 0.1, "implicit": 0.01}  # see WorldModelConfig.weight_decay


class WorldModelConfig(Config):
    """How the world model is obtained; the learned model's hyper-parameters."""

    source: Literal["auto", "learned", "billp"] = Field(
        "auto",
        description="billp: the dataset's own BiLLP matrices; learned: fit a rating model on "
        "the logs; auto: billp when the dataset carries them, else learned",
    )
    model: Literal["mf", "deepfm"] = Field(
        "deepfm", description="rating model; DeepFM is what BiLLP/IL-Rec's matrices come from"
    )
    dim: int = Field(32, ge=1, description="embedding size d (MF factors, DeepFM fields)")
    hidden: list[int] = Field([64, 64], min_length=1, description="DeepFM MLP widths")
    epochs: int = Field(50, ge=1, description="maximum epochs (early stopping usually ends first)")
    patience: int = Field(3, ge=1, description="epochs without validation gain before stopping")
    batch_size: int = Field(1024, ge=1, description="minibatch size")
    lr: float = Field(5e-3, gt=0, description="Adam learning rate")
    weight_decay: float | None = Field(
        None,
        ge=0,
        description="L2 on the embedding rows a batch uses; null: 0.1 for explicit ratings "
        "(MSE on stars), 0.01 for implicit feedback (BCE, whose gradients are smaller)",
    )
    mlp_weight_decay: float = Field(0.01, ge=0, description="Adam L2 on DeepFM's MLP weights")
    n_ensemble: int = Field(
        1, ge=1, description="models with different seeds; >1 gives uncertainty"
    )
    test_user_fraction: float = Field(
        0.2, gt=0, lt=1, description="share of users in the test split"
    )
    val_fraction: float = Field(0.1, gt=0, lt=1, description="held-out log rows for early stopping")
    test_fraction: float = Field(
        0.1, ge=0, lt=1, description="held-out log rows for the error report"
    )
    negatives: int = Field(4, ge=1, description="implicit data: sampled negatives per positive (k)")
    distance_quantile: float = Field(
        0.005,
        gt=0,
        lt=1,
        description="threshold = this quantile of distinct item-pair distances; 0.005 makes "
        "reward-greedy policies on the BiLLP Amazon histories quit by distance after 3-6 turns "
        "(BiLLP: most episodes end by distance), leaving room for diverse policies",
    )
    distance_pairs: int = Field(200_000, ge=100, description="item pairs sampled for the quantile")
    seed: int = Field(0, description="seed of the user split, held-out slice, models, negatives")
    test_users: int | None = Field(
        None,
        ge=1,
        description="test split = BiLLP's n standard users of all users (sorted ids shuffled "
        "with Random(233)), train split = the rest; null: test_user_fraction",
    )
    calibration: dict[Literal["train", "test"], CalibrationConfig] = Field(
        default_factory=dict,
        description="per split: fit its rating link, low-reward line and distance threshold to "
        "a recorded BiLLP run in that split's world (BiLLP's train and test worlds); learned "
        "worlds only",
    )


def make_world_model(
    ds: Dataset,
    cfg: WorldModelConfig,
    progress: bool = True,
    run: Run | None = None,
    low_reward: float = 2.0,
) -> WorldModel:
    """BiLLP's own matrices when `ds` carries them (or `cfg.source` says so), unchanged; else a
    learned one, calibrated per split when `cfg.calibration` says so (cached stages of `run`;
    `low_reward` is the quit rule's configured line)."""
    if cfg.source == "billp" or (cfg.source == "auto" and has_billp_arrays(ds)):
        if cfg.calibration:
            log.info("world model: BiLLP's own matrices are its two worlds; no calibration")
        return world_model_from_billp(ds)
    world = build_world_model(ds, cfg, progress=progress)
    if not cfg.calibration:
        return world
    base = cfg.model_dump(mode="json", exclude={"calibration"})
    return calibrate_world(world, ds, cfg.calibration, low_reward, run=run, base_params=base)


def build_world_model(ds: Dataset, cfg: WorldModelConfig, progress: bool = True) -> WorldModel:
    """Fit `cfg.n_ensemble` rating models on `ds`'s logs and turn them into a world model."""
    from rlrec.interactive.world import ratingfit as rf
    from rlrec.interactive.world import ratingmodels as rm

    start = time.perf_counter()
    data_seq, *member_seqs = np.random.SeedSequence(cfg.seed).spawn(1 + cfg.n_ensemble)
    rng = np.random.default_rng(data_seq)  # user split, held-out slice, its negatives, pairs
    logs = _code_logs(ds)
    if cfg.test_users is None:
        splits = _split_users(ds, logs.user_ids, cfg.test_user_fraction, rng)
    else:
        splits = _standard_split(logs.user_ids, cfg.test_users)
    data = _held_out(logs, cfg, rng)
    fields = rm.encode_fields(ds.users, ds.items, logs.user_ids, logs.items["item_id"].to_numpy())
    rows = {split: np.searchsorted(logs.user_ids, ids) for split, ids in splits.items()}
    weight_decay = cfg.weight_decay
    if weight_decay is None:
        weight_decay = DEFAULT_WEIGHT_DECAY["implicit" if logs.implicit else "explicit"]
    reward = functools.partial(to_reward, implicit=logs.implicit, negatives=cfg.negatives)
    log.info(
        "world model: %s x%d on %s (%d users, %d items, %d log rows, %s)",
        cfg.model, cfg.n_ensemble, ds.name, len(logs.user_ids), len(logs.items),
        len(logs.pairs), "implicit" if logs.implicit else "explicit",
    )  # fmt: skip

    stats = {s: _RunningMoments() for s in SPLITS}
    members, test_rewards, embeddings = [], [], None
    for m, seq in enumerate(member_seqs):
        seed = int(seq.generate_state(1)[0])
        model = rm.make_model(cfg.model, fields, cfg.dim, seed=seed, hidden=tuple(cfg.hidden))
        fit = rf.fit(
            model, data.train, data.val, implicit=logs.implicit, sampler=data.sampler,
            epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=weight_decay,
            mlp_weight_decay=cfg.mlp_weight_decay, patience=cfg.patience, seed=seed,
            progress=progress, desc=f"world model {cfg.model} {m + 1}/{cfg.n_ensemble}",
        )  # fmt: skip
        test_rewards.append(reward(rf.predict_pairs(model, data.test.users, data.test.items)))
        metrics = _reward_metrics(test_rewards[-1], data.test.targets, logs.implicit)
        members.append({"seed": seed, **metrics, "fit": fit.as_dict()})
        log.info("world model member %d: %s (%.1fs)", m + 1, _fmt(metrics), fit.seconds)
        for split in SPLITS:
            stats[split].add(reward(rf.predict_matrix(model, rows[split], len(logs.items))))
        if m == 0:
            embeddings = _unit_rows(model.item_vectors().numpy())

    meta = {
        "source": "learned",
        "dataset": ds.name,
        "model": cfg.model,
        "config": cfg.model_dump(mode="json"),
        "weight_decay": weight_decay,
        "implicit": logs.implicit,
        "n_items": len(logs.items),
        "users": {s: len(splits[s]) for s in SPLITS},
        "dropped_interactions": logs.dropped,
        "rating_range": logs.rating_range,
        "reward_range": list(REWARD_RANGE),
        "reward_mapping": (
            "5 * sigmoid(logit + log(negatives))" if logs.implicit else "clip(stars, 0, 5)"
        ),
        "metrics": _metrics(members, test_rewards, data, logs.implicit),
        "item_embeddings": (
            f"member 0's {'item factors' if cfg.model == 'mf' else 'item-id field embedding'}"
            ", L2-normalised"
        ),
        "distance_quantile": cfg.distance_quantile,
        "train_seconds": round(time.perf_counter() - start, 3),
        "episode_length": {},  # filled by the worldmodel stage: mean Len of naive policies
    }
    return WorldModel(
        rewards={s: stats[s].mean() for s in SPLITS},
        users=splits,
        items=logs.items,
        distance_threshold=_distance_threshold(
            embeddings, cfg.distance_quantile, cfg.distance_pairs, rng
        ),
        item_embeddings=embeddings,
        uncertainty={s: stats[s].variance() for s in SPLITS} if cfg.n_ensemble > 1 else {},
        meta=meta,
    )


class _RunningMoments:
    """Mean and population variance of equally shaped arrays, one at a time (Welford)."""

    def __init__(self) -> None:
        self.n, self._mean, self._m2 = 0, None, None

    def add(self, x: np.ndarray) -> None:
        x = x.astype(np.float64)
        self.n += 1
        if self._mean is None:
            self._mean, self._m2 = x, np.zeros_like(x)
            return
        delta = x - self._mean
        self._mean += delta / self.n
        self._m2 += delta * (x - self._mean)

    def mean(self) -> np.ndarray:
        return self._mean.astype(np.float32)

    def variance(self) -> np.ndarray:
        return (self._m2 / self.n).astype(np.float32)


# -- the steps of `build_world_model` ------------------------------------------------------------


@dataclass
class _Logs:
    """The logs coded by position: `pairs.users` index `user_ids`, `pairs.items` index `items`."""

    pairs: rf.Pairs  # one row per distinct (user, item): mean stars, or 1 (implicit)
    user_ids: np.ndarray  # sorted raw ids of the users with logs
    items: pd.DataFrame  # the catalogue, in column order
    implicit: bool
    rating_range: list[float] | None = None
    dropped: int = 0


def _code_logs(ds: Dataset) -> _Logs:
    from rlrec.interactive.world import ratingfit as rf

    inter = ds.interactions
    if len(ds.items):
        items = ds.items.reset_index(drop=True)
        if items["item_id"].duplicated().any():
            raise DataError(f"{ds.name}: the item table lists an item_id twice")
    else:
        items = pd.DataFrame({"item_id": np.sort(inter["item_id"].unique())})
    implicit = bool(len(inter)) and bool(inter["rating"].isna().all())
    item_pos = pd.Index(items["item_id"]).get_indexer(inter["item_id"])
    keep = item_pos >= 0
    if not implicit:
        keep &= inter["rating"].notna().to_numpy()
    dropped = int((~keep).sum())
    if dropped:
        log.warning(
            "%s: %d interactions without a catalogue item or rating ignored", ds.name, dropped
        )
    if not keep.any():
        raise DataError(f"{ds.name} has no usable interactions to learn a world model from")
    kept = inter.loc[keep]
    user_ids = np.sort(kept["user_id"].unique())
    if len(user_ids) < 2:
        raise DataError(f"{ds.name}: a world model needs at least 2 users with logs")
    frame = pd.DataFrame(
        {
            "u": np.searchsorted(user_ids, kept["user_id"].to_numpy()),
            "i": item_pos[keep],
            "r": 1.0 if implicit else kept["rating"].to_numpy(dtype=np.float32),
        }
    )
    grouped = frame.groupby(["u", "i"], sort=True)["r"].mean().reset_index()
    pairs = rf.Pairs(
        grouped["u"].to_numpy(np.int64),
        grouped["i"].to_numpy(np.int64),
        grouped["r"].to_numpy(np.float32),
    )
    ratings = None if implicit else [float(frame["r"].min()), float(frame["r"].max())]
    if ratings and ratings[1] > REWARD_RANGE[1]:
        log.warning("%s: ratings up to %g are clipped to the 0-5 reward scale", ds.name, ratings[1])
    return _Logs(pairs, user_ids, items, implicit, rating_range=ratings, dropped=dropped)


def _split_users(
    ds: Dataset, user_ids: np.ndarray, fraction: float, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Disjoint sorted train/test user ids: the data's own `split` column when it names both
    and covers every user exactly once, else a seeded random `fraction` of test users."""
    inter = ds.interactions
    if "split" in inter.columns:
        own = {s: np.sort(inter.loc[inter["split"] == s, "user_id"].unique()) for s in SPLITS}
        disjoint = not np.intersect1d(own["train"], own["test"]).size
        covers = np.array_equal(np.union1d(own["train"], own["test"]), user_ids)
        if all(len(own[s]) for s in SPLITS) and disjoint and covers:
            return own
    order = rng.permutation(len(user_ids))
    n_test = min(max(1, round(fraction * len(user_ids))), len(user_ids) - 1)
    return {
        "train": np.sort(user_ids[order[n_test:]]),
        "test": np.sort(user_ids[order[:n_test]]),
    }


def _standard_split(user_ids: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """BiLLP's n standard users of all `user_ids` as the test split, the rest as train."""
    if n >= len(user_ids):
        raise DataError(f"test_users={n} leaves no train users out of {len(user_ids)}")
    test = np.sort(standard_users(np.sort(user_ids), n))
    return {"train": np.setdiff1d(user_ids, test), "test": test}


def _holdout(
    pairs: rf.Pairs, val_fraction: float, test_fraction: float, rng: np.random.Generator
) -> tuple[rf.Pairs, rf.Pairs, rf.Pairs]:
    """Seeded random (train, val, test) slices of the log rows."""
    from rlrec.interactive.world import ratingfit as rf

    order = rng.permutation(len(pairs))
    n_val = max(1, round(val_fraction * len(pairs)))
    n_test = round(test_fraction * len(pairs))
    if n_val + n_test >= len(pairs):
        raise DataError(f"too few log rows ({len(pairs)}) to hold out validation and test rows")
    parts = np.split(order, [n_val, n_val + n_test])
    val, test, train = (rf.Pairs(*(a[idx] for a in pairs.astuple())) for idx in parts)
    return train, val, test


@dataclass
class _HeldOut:
    train: rf.Pairs  # implicit: positives only (the sampler adds fresh negatives each epoch)
    val: rf.Pairs  # implicit: positives plus fixed sampled negatives
    test: rf.Pairs
    sampler: rf.NegativeSampler | None


def _held_out(logs: _Logs, cfg: WorldModelConfig, rng: np.random.Generator) -> _HeldOut:
    from rlrec.interactive.world import ratingfit as rf

    train, val, test = _holdout(logs.pairs, cfg.val_fraction, cfg.test_fraction, rng)
    if not logs.implicit:
        return _HeldOut(train, val, test, None)
    pairs = logs.pairs
    sampler = rf.NegativeSampler(pairs.users, pairs.items, len(logs.items), cfg.negatives)
    val = val.concat(sampler.negatives_for(val, rng))
    test = test.concat(sampler.negatives_for(test, rng))
    return _HeldOut(train, val, test, sampler)


def _metrics(
    members: list[dict[str, Any]], test_rewards: list[np.ndarray], data: _HeldOut, implicit: bool
) -> dict[str, Any]:
    """Held-out error per member, their mean, the ensemble's, and a global-mean baseline."""
    targets = data.test.targets
    metrics: dict[str, Any] = {
        "members": members,
        "mean": _mean_metrics(members),
        "ensemble": _reward_metrics(np.mean(test_rewards, axis=0), targets, implicit),
        "held_out_rows": {"train": len(data.train), "val": len(data.val), "test": len(targets)},
    }
    if not implicit:
        constant = np.full(len(targets), np.clip(data.train.targets.mean(), *REWARD_RANGE))
        metrics["global_mean"] = _reward_metrics(constant, targets, implicit=False)
    return metrics


def to_reward(scores: np.ndarray, implicit: bool, negatives: int) -> np.ndarray:
    """Raw model scores -> rewards on the 0-5 scale: clipped stars, or 5 σ(logit + log k)."""
    scores = np.asarray(scores, dtype=np.float32)
    if implicit:
        x = scores + np.float32(np.log(negatives))
        return (2.5 * (1.0 + np.tanh(0.5 * x))).astype(np.float32)  # 5 σ(x), overflow-free
    return np.clip(scores, *REWARD_RANGE).astype(np.float32)


def _reward_metrics(reward: np.ndarray, targets: np.ndarray, implicit: bool) -> dict[str, float]:
    """RMSE / MAE of rewards against stars (or 5 x label), plus AUC for implicit labels."""
    truth = 5.0 * targets if implicit else targets
    err = np.asarray(reward, dtype=np.float64) - truth
    out = {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err)))}
    if implicit:
        out["auc"] = auc(reward, targets)
    return out


def _mean_metrics(members: list[dict[str, Any]]) -> dict[str, float]:
    keys = [k for k in ("rmse", "mae", "auc") if k in members[0]]
    return {k: float(np.mean([m[k] for m in members])) for k in keys}


def _fmt(metrics: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.4f}" for k, v in metrics.items())


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC (Mann-Whitney U, ties counted half); NaN without both classes."""
    labels = np.asarray(labels) > 0.5
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if not n_pos or not n_neg:
        return float("nan")
    ranks = pd.Series(np.asarray(scores, dtype=np.float64)).rank(method="average").to_numpy()
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _distance_threshold(
    embeddings: np.ndarray, quantile: float, n_pairs: int, rng: np.random.Generator
) -> float:
    """The `quantile` quantile of Euclidean distances over sampled distinct item pairs."""
    n = len(embeddings)
    if n < 2:
        return 0.0
    first = rng.integers(0, n, n_pairs)
    second = (first + rng.integers(1, n, n_pairs)) % n  # never the same item
    dist = np.linalg.norm(embeddings[first] - embeddings[second], axis=1)
    return float(np.quantile(dist, quantile))
