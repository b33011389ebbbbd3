"""Domains from genres, the cold-start split and the positive sequences (domains.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rlrec.crossdomain.domains import (
    DomainsConfig,
    Ratings,
    SplitConfig,
    build_task,
    concat_sequences,
    domain_interactions,
    positive_sequences,
)
from rlrec.data.dataset import Dataset, interactions_frame
from rlrec.errors import ConfigError

from .synthetic import one_signal_dataset


def movies() -> Dataset:
    items = pd.DataFrame(
        {
            "item_id": [1, 2, 3, 4, 5],
            "title": list("abcde"),
            "genres": [["Drama"], ["Drama", "Comedy"], ["Comedy"], ["Drama", "Action"], ["War"]],
        }
    )
    users = [10, 10, 10, 10, 10, 11]
    inter = interactions_frame(users, [1, 2, 3, 4, 5, 2], [4, 5, 3, 2, 1, 4], range(6), "ml")
    return Dataset("ml", inter, items)


def test_multi_genre_rule_rarest_and_first() -> None:
    genres = {"Drama": ["Drama"], "Comedy": ["Comedy"], "Action": ["Action"]}
    rarest = domain_interactions(movies(), DomainsConfig(genre_domains=genres))
    first = domain_interactions(movies(), DomainsConfig(genre_domains=genres, multi_genre="first"))
    # candidate counts: Drama 3, Comedy 2, Action 1; movie 5 (War) is unmapped and dropped
    dom = dict(zip(rarest["item_id"], rarest["domain"], strict=False))
    assert dom == {1: "Drama", 2: "Comedy", 3: "Comedy", 4: "Action"}
    dom_first = dict(zip(first["item_id"], first["domain"], strict=False))
    assert dom_first == {1: "Drama", 2: "Drama", 3: "Comedy", 4: "Drama"}


def test_unknown_target_is_a_config_error() -> None:
    inter = domain_interactions(one_signal_dataset(n_users=40), DomainsConfig())
    with pytest.raises(ConfigError, match="not in the data"):
        build_task(inter, "Nope", 0.2, 0, SplitConfig())


def test_split_is_seeded_disjoint_and_sized() -> None:
    inter = domain_interactions(one_signal_dataset(n_users=100), DomainsConfig())
    a = build_task(inter, "Target", 0.5, 3, SplitConfig(val_fraction=0.2))
    b = build_task(
        inter.sample(frac=1.0, random_state=1), "Target", 0.5, 3, SplitConfig(val_fraction=0.2)
    )
    c = build_task(inter, "Target", 0.5, 4, SplitConfig(val_fraction=0.2))
    assert len(a.co_users) == 100
    assert [len(a.users[s]) for s in ("test", "val", "train")] == [50, 10, 40]
    for s in ("train", "val", "test"):  # row order of the input does not matter
        np.testing.assert_array_equal(a.users[s], b.users[s])
    assert not np.array_equal(a.users["test"], c.users["test"])
    allu = np.concatenate(list(a.users.values()))
    assert len(np.unique(allu)) == len(allu)
    assert list(a.user_ids) == sorted(a.user_ids)  # ids mapped in sorted order
    seen = np.unique(a.target_mf_ratings().user)
    assert not np.isin(np.concatenate([a.users["val"], a.users["test"]]), seen).any()


def test_positive_sequences_chronological_truncated_padded() -> None:
    r = Ratings(
        user=np.array([0, 0, 0, 0, 2, 2]),
        item=np.array([5, 6, 7, 8, 1, 2]),
        rating=np.array([5, 4, 2, 5, 4, 5], np.float32),
        timestamp=np.array([30, 10, 20, 40, 5, 1]),
    )
    seqs = positive_sequences(r, np.array([0, 1, 2]), pad=9, seq_len=2, threshold=3.0)
    # user 0 positives by time: 6 (10), 5 (30), 8 (40) -> the last two; user 1 none
    np.testing.assert_array_equal(seqs, [[5, 8], [9, 9], [2, 1]])


def test_concat_sequence_offsets_sources() -> None:
    inter = domain_interactions(one_signal_dataset(n_users=30), DomainsConfig())
    task = build_task(inter, "Target", 0.2, 0, SplitConfig())
    concat = concat_sequences(task, 300, 3.0)
    n_src = sum(task.n_items(d) for d in task.sources)
    real = concat[concat != n_src]
    assert real.max() < n_src and (concat[:, -1] == n_src).all()
