"""Rating models (`ratingmodels`), their prediction and negative sampling (`ratingfit`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from rlrec.errors import ConfigError
from rlrec.interactive.world import ratingfit as rf
from rlrec.interactive.world import ratingmodels as rm

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_fields() -> rm.Fields:
    users = pd.DataFrame(
        {"user_id": [1, 2, 3], "age": [10, 30, 60], "gender": ["M", "F", "M"],
         "occupation": ["a", "b", "a"]}
    )  # fmt: skip
    items = pd.DataFrame({"item_id": [5, 6, 7, 8], "genres": [["x"], ["x", "y"], [], ["z"]]})
    return rm.encode_fields(users, items, np.array([1, 2, 3, 4]), np.array([5, 6, 7, 8]))


def test_encode_fields() -> None:
    fields = tiny_fields()
    assert fields.attr_names == ("gender", "age", "occupation")
    # gender codes 0-2 (0 unknown), age 3-10 (age 10 -> bucket <18), occupation 11-13
    assert fields.user_attrs.tolist() == [[2, 4, 12], [1, 6, 13], [2, 10, 12], [0, 3, 11]]
    assert fields.item_genres.tolist() == [[1, 0], [1, 2], [0, 0], [3, 0]]


def test_deepfm_equals_the_textbook_formula() -> None:
    model = rm.make_model("deepfm", tiny_fields(), dim=4, seed=0, hidden=(8, 8))
    with torch.no_grad():  # move off the initial values so every term matters
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)) * 0.3)
        model.genre_emb.weight[0] = 0.0
        model.genre_w.weight[0] = 0.0
    users, items = torch.tensor([0, 1, 2, 3, 0]), torch.tensor([0, 1, 2, 3, 3])
    (ue, uw), (ie, iw) = model._user_fields(users), model._item_fields(items)
    e = torch.cat([ue, ie], 1)  # [B, F, d]: user, gender, age, occupation, item, genres
    assert e.shape == (5, 6, 4)
    second = sum((e[:, f] * e[:, g]).sum(-1) for f in range(6) for g in range(f + 1, 6))
    w1 = torch.cat([model.deep_user.weight, model.deep_item.weight], 1)
    deep = model.deep_rest(e.flatten(1) @ w1.T + model.deep_item.bias).squeeze(-1)
    expected = model.global_bias + uw + iw + second + deep
    assert torch.allclose(model(users, items), expected, atol=1e-5)


@pytest.mark.parametrize("kind", ["mf", "deepfm"])
def test_predict_matrix_matches_pairwise_scores(kind: str) -> None:
    model = rm.make_model(kind, tiny_fields(), dim=4, seed=0, hidden=(8,))
    users = np.array([3, 0, 2])
    grid = rf.predict_matrix(model, users, 4, max_elements=4)  # one user per chunk
    pairs = rf.predict_pairs(model, np.repeat(users, 4), np.tile(np.arange(4), 3))
    assert grid.shape == (3, 4) and np.allclose(grid, pairs.reshape(3, 4), atol=1e-5)


def test_negative_sampler_avoids_the_history() -> None:
    users, items = np.array([0, 0, 0, 1]), np.array([0, 1, 2, 3])
    sampler = rf.NegativeSampler(users, items, n_items=5, k=2)
    draws = sampler.sample(np.repeat([0, 1], 500), np.random.default_rng(0))
    assert set(draws[:500]) == {3, 4} and set(draws[500:]) == {0, 1, 2, 4}


def test_unknown_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="known models: deepfm, mf"):
        rm.make_model("svd", tiny_fields(), dim=4, seed=0)
