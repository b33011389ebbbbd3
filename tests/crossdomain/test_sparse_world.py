"""The sparse Amazon-like world with a planted truth (synthetic-amazon, profile sparse), and
what must hold on it: the per-domain MF beats the item mean in its own domain, and MARCO puts
most weight on the informative source and beats uniform weighting and the constant clearly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rlrec.crossdomain.domains import DomainsConfig, SplitConfig, build_task, domain_interactions
from rlrec.crossdomain.inputs import per_domain_inputs
from rlrec.crossdomain.mappo import MappoConfig
from rlrec.crossdomain.marco import Marco, MarcoConfig
from rlrec.crossdomain.mf import MFConfig, fit_domain_mfs
from rlrec.crossdomain.references import fit_reference, load_truth
from rlrec.data import DataConfig, load_dataset
from rlrec.data.synthetic import SyntheticConfig
from rlrec.errors import ConfigError

from .synthetic import uniform_weight_predictions

SMALL = SyntheticConfig(
    profile="sparse", n_users=1000, n_items=250, n_genres=4, noise=0.6, overlap=0.5, seed=3
)


@pytest.fixture(scope="module")
def world():
    ds = load_dataset(DataConfig(name="synthetic-amazon", synthetic=SMALL))
    return ds, load_truth(ds.meta["truth"])


@pytest.fixture(scope="module")
def books_task(world):
    ds, _ = world
    task = build_task(domain_interactions(ds, DomainsConfig()), "Books", 0.2, 0, SplitConfig())
    domains = [*task.sources, task.target]
    mfs = fit_domain_mfs(
        {d: task.target_mf_ratings() if d == task.target else task.ratings[d] for d in domains},
        task.n_users,
        {d: task.n_items(d) for d in domains},
        MFConfig(dim=4),
        seed=1,
    )
    return task, mfs


def test_the_world_looks_like_amazon_and_reports_its_references(world) -> None:
    ds, truth = world
    inter = ds.interactions
    assert sorted(inter["domain"].unique()) == [
        "Books", "CDs_and_Vinyl", "Electronics", "Movies_and_TV"
    ]  # fmt: skip
    for _, part in inter.groupby("domain"):
        per_user = part.groupby("user_id").size()
        per_item = part.groupby("item_id").size()
        assert per_user.min() >= 5 and per_item.min() >= 5  # 5-core
        assert 15 <= per_user.median() <= 40
        assert (part["rating"] >= 4).mean() > 0.6 and (part["rating"] == 1).mean() > 0.02
        assert set(part["rating"].unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    report = json.loads((Path(ds.meta["truth"]).parent / "truth.json").read_text())
    mae = report["Books"]["mae"]
    # the planted structure orders the references: oracle < all sources < the informative
    # source < the weak source ~ the noise source ~ item-only < constant
    assert mae["oracle"] < mae["ideal-all"] <= mae["ideal[CDs_and_Vinyl]"] + 1e-9
    assert mae["ideal[CDs_and_Vinyl]"] < mae["ideal[Movies_and_TV]"] - 0.02
    assert abs(mae["ideal[Electronics]"] - mae["item-only"]) < 0.01
    assert mae["item-only"] < mae["constant"] - 0.03
    assert truth is not None and truth.arrays["correlation"][0, 3] == 0


def test_the_sparse_profile_refuses_other_domain_counts(tmp_path) -> None:
    from rlrec.data.synthetic.amazon import write_amazon

    with pytest.raises(ConfigError, match="four domains"):
        write_amazon(tmp_path, SMALL.model_copy(update={"n_domains": 3}))


def test_in_domain_biased_mf_beats_the_item_mean(books_task) -> None:
    _, mfs = books_task
    for d, mf in mfs.items():
        info = mf.info
        assert info["model"] == "biased" and info["reg"] in MFConfig().regs
        assert info["heldout_rmse"] < info["item_mean_rmse"] - 0.03, (d, info)
        assert info["heldout_mae"] < info["item_mean_mae"], (d, info)


def test_marco_weights_the_informative_source_and_transfers(world, books_task) -> None:
    """MARCO's weights favour the informative source over the noise source, those weights do
    better than uniform weights on the same bridges, and MARCO closes more than half of the
    gap between the constant and the warm reference."""
    _, truth = world
    task, mfs = books_task
    train, val, test = (task.target_ratings(s) for s in ("train", "val", "test"))
    cfg = MarcoConfig(warmup_epochs=1, epochs=4, mappo=MappoConfig(entropy_coef=0.001))
    model = Marco(cfg, per_domain_inputs(task, mfs), seed=0).fit(train, val)
    w = model.weight_summary(test.user, test.item)["mean_weight"]
    mae = {"marco": _mae(model.predict(test.user, test.item), test.rating)}
    flat = uniform_weight_predictions(model, test)
    mae["same bridges, uniform weights"] = _mae(flat, test.rating)
    for name in ("global-mean", "item-mean", "warm", "oracle"):
        ref = fit_reference(name, task, mfs["Books"], MFConfig(dim=4), truth, seed=0)
        mae[name] = _mae(ref.predict(test.user, test.item), test.rating)
    assert max(w, key=w.get) == "CDs_and_Vinyl" and w["CDs_and_Vinyl"] > 1 / 3 + 0.03, w
    assert mae["marco"] < mae["same bridges, uniform weights"], mae
    assert mae["oracle"] < mae["warm"] < mae["item-mean"] < mae["global-mean"], mae
    assert mae["marco"] < mae["item-mean"] - 0.02, mae
    gap_closed = (mae["global-mean"] - mae["marco"]) / (mae["global-mean"] - mae["warm"])
    assert gap_closed > 0.5, mae


def _mae(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.abs(pred - y).mean())
