"""The NumPy inference path (`learners.inference`) computes what the networks compute: the
same scores, the same top-k, the same sampled actions, for every exportable head."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rlrec.export import Artefact
from rlrec.interactive.evaluate import Observation
from rlrec.interactive.experience.batches import state_batch
from rlrec.interactive.experience.rollout import TorchPolicy, sample_inverse_cdf
from rlrec.interactive.learners.inference import (
    FastPolicy,
    FastScorer,
    fast_scores,
)
from rlrec.interactive.learners.nets import ActorCritic, PolicyNetwork, QNetwork
from rlrec.serve.model import LoadedPolicy, Query

N_USERS, N_ITEMS, WINDOW = 30, 500, 4


def _trained_like(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """`net` in eval mode with every parameter moved off its initial value (biases and norm
    gains included, which start at 0 / 1 and would hide a wrong formula)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen))
    return net.eval()


def _states(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Known and new users; full, partial and empty windows."""
    users = rng.integers(-1, N_USERS, n)
    items = rng.integers(0, N_ITEMS, (n, WINDOW))
    rewards = rng.uniform(0, 5, (n, WINDOW)).astype(np.float32)
    pad = rng.integers(0, WINDOW + 1, n)  # leading empty positions, right-aligned window
    items[np.arange(WINDOW)[None, :] < pad[:, None]] = -1
    rewards[items < 0] = 0.0
    items[0] = -1  # an empty history
    rewards[0] = 0.0
    return users, items, rewards


def _networks() -> dict[str, tuple[torch.nn.Module, str]]:
    torch.manual_seed(0)
    return {
        "il-rec actor (clamp 1)": (ActorCritic(N_USERS, N_ITEMS, 16, WINDOW, 1.0), "scores"),
        "il-rec actor (clamp 15)": (ActorCritic(N_USERS, N_ITEMS, 16, WINDOW, 15.0), "scores"),
        "il-rec actor (no clamp)": (ActorCritic(N_USERS, N_ITEMS, 16, WINDOW, None), "scores"),
        "policy head (bc, crr)": (PolicyNetwork(N_USERS, N_ITEMS, 16, WINDOW), "scores"),
        "q head (dqn, cql)": (QNetwork(N_USERS, N_ITEMS, 16, WINDOW), "scores"),
        "sqn supervised head": (QNetwork(N_USERS, N_ITEMS, 16, WINDOW, True), "supervised"),
    }


def _reference(net: torch.nn.Module, head: str):
    from rlrec.export import HEADS

    return HEADS[head](net, {})


@pytest.mark.parametrize("name", list(_networks()))
@pytest.mark.parametrize("batch", [1, 33])
def test_fast_scores_match_the_network(name: str, batch: int) -> None:
    net, head = _networks()[name]
    net = _trained_like(net, seed=batch)
    scorer = fast_scores(net, head)
    assert isinstance(scorer, FastScorer)
    users, items, rewards = _states(np.random.default_rng(batch), batch)
    with torch.no_grad():
        expected = _reference(net, head)(state_batch(users, items, rewards)).numpy()
    got = scorer(users, items, rewards)
    assert got.shape == expected.shape == (batch, N_ITEMS)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=2e-5)
    # the same top-10, in the same order
    np.testing.assert_array_equal(
        np.argsort(-got, axis=1, kind="stable")[:, :10],
        np.argsort(-expected, axis=1, kind="stable")[:, :10],
    )


def test_the_tracker_state_matches() -> None:
    net = _trained_like(ActorCritic(N_USERS, N_ITEMS, 16, WINDOW, 1.0), seed=3)
    users, items, rewards = _states(np.random.default_rng(3), 20)
    with torch.no_grad():
        expected = net.tracker(state_batch(users, items, rewards)).numpy()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    got = FastScorer(net.tracker, net.actor, 1.0).state(users, items, rewards)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert np.abs(expected).max() > 0.1  # a state worth comparing
    for k, v in net.state_dict().items():  # the scorer copies; the network is left as it was
        assert torch.equal(v, before[k]), k


def test_a_network_in_training_mode_is_refused() -> None:
    net = ActorCritic(N_USERS, N_ITEMS, 16, WINDOW, 1.0)  # modules start in training mode
    with pytest.raises(ValueError, match="eval mode"):
        FastScorer(net.tracker, net.actor, 1.0)


def test_heads_without_a_fast_path_stay_on_the_network() -> None:
    net = QNetwork(N_USERS, N_ITEMS, 16, WINDOW, True).eval()
    assert fast_scores(net, "bcq") is None  # BCQ's constrained Q: two heads and a rule
    assert fast_scores(torch.nn.Linear(3, 4), "scores") is None


def _observation(rng: np.random.Generator, n: int, banned: bool) -> Observation:
    users, items, rewards = _states(rng, n)
    ban = rng.random((n, N_ITEMS)) < 0.3 if banned else None
    return Observation(
        users=users,
        window_items=items,
        window_rewards=rewards,
        turn=np.full(n, WINDOW),
        recommended=np.zeros((n, N_ITEMS), dtype=bool),
        banned=ban,
    )


@pytest.mark.parametrize("banned", [False, True])
def test_fast_policy_samples_the_torch_policy_actions(banned: bool) -> None:
    """Same observation, same generator state -> the same actions, sampled and greedy, over
    many draws (a sampled action differs only when a uniform falls within rounding error of an
    item's boundary in the running sum)."""
    net = _trained_like(ActorCritic(N_USERS, N_ITEMS, 16, WINDOW, 15.0), seed=5)
    reference = TorchPolicy("il-rec", net.scores)
    fast = FastPolicy("il-rec", fast_scores(net, "scores"))
    rng = np.random.default_rng(7)
    for step in range(40):
        obs = _observation(rng, 1 if step % 2 else 9, banned)
        expected = reference.act(obs, np.random.default_rng(step))
        got = fast.act(obs, np.random.default_rng(step))
        np.testing.assert_array_equal(got, expected)
        if banned:
            assert not obs.banned[np.arange(len(got)), got].any()
        greedy = fast.act(obs, np.random.default_rng(step), greedy=True)
        np.testing.assert_array_equal(greedy, reference.act(obs, rng, greedy=True))


def test_inverse_cdf_follows_the_distribution() -> None:
    """Blocked running sums still sample softmax(logits): frequencies of 60,000 draws over
    300 items (several blocks) within 4 standard errors of the probabilities."""
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 1.5, (1, 300)).astype(np.float32)
    p = np.exp(logits[0].astype(np.float64) - logits.max())
    p /= p.sum()
    draws = np.array([sample_inverse_cdf(logits, rng)[0] for _ in range(60_000)])
    freq = np.bincount(draws, minlength=300) / len(draws)
    se = np.sqrt(p * (1 - p) / len(draws))
    assert np.all(np.abs(freq - p) < 4 * se + 1e-4)
    batched = sample_inverse_cdf(np.repeat(logits, 5, axis=0), np.random.default_rng(1))
    single = [sample_inverse_cdf(logits, g)[0] for g in [np.random.default_rng(1)]]
    assert batched[0] == single[0]


def _loaded(net: torch.nn.Module, fast: bool) -> LoadedPolicy:
    artefact = Artefact(
        net=net,
        head="scores",
        head_args={},
        item_ids=[f"i{c}" for c in range(N_ITEMS)],
        titles=[f"item {c}" for c in range(N_ITEMS)],
        user_ids=list(range(N_USERS)),
        window=WINDOW,
        max_history=100,
        always_greedy=False,
        source={"method": "il-rec"},
    )
    loaded = LoadedPolicy.from_artefact(artefact)
    assert (loaded.fast is not None) and isinstance(artefact.policy(), FastPolicy)
    if not fast:
        loaded.fast = None
    return loaded


def test_served_top_k_is_unchanged_on_the_inference_path() -> None:
    net = _trained_like(ActorCritic(N_USERS, N_ITEMS, 16, WINDOW, 1.0), seed=11)
    fast, reference = _loaded(net, True), _loaded(net, False)
    rng = np.random.default_rng(11)
    queries = []
    for _ in range(64):
        h = int(rng.integers(0, 9))
        queries.append(
            Query(
                user=int(rng.integers(-1, N_USERS)),
                items=rng.choice(N_ITEMS, h, replace=False),
                rewards=rng.uniform(0, 5, h).astype(np.float32),
                k=int(rng.integers(1, 30)),
            )
        )
    for batch in (queries[:1], queries[1:2], queries):  # batch 1 and a micro-batch
        got, expected = fast.recommend(batch), reference.recommend(batch)
        for g, e, q in zip(got, expected, batch, strict=True):
            assert [x["item_id"] for x in g] == [x["item_id"] for x in e]
            np.testing.assert_allclose(
                [x["score"] for x in g], [x["score"] for x in e], rtol=1e-5, atol=2e-5
            )
            assert len(g) == q.k
            assert not {f"i{c}" for c in q.items} & {x["item_id"] for x in g}


def test_concurrent_recommend_calls_do_not_share_a_buffer() -> None:
    """Threads calling `recommend` at once get each its own answer (the inference path's
    output buffer is used by one call at a time)."""
    from concurrent.futures import ThreadPoolExecutor

    net = _trained_like(ActorCritic(N_USERS, N_ITEMS, 16, WINDOW, 1.0), seed=13)
    loaded = _loaded(net, True)
    rng = np.random.default_rng(13)
    queries = [
        Query(int(u), rng.choice(N_ITEMS, 3, replace=False), np.full(3, 4.0, "f4"), 5)
        for u in rng.integers(0, N_USERS, 200)
    ]
    alone = [loaded.recommend([q])[0] for q in queries]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda q: loaded.recommend([q])[0], queries))
    assert together == alone
