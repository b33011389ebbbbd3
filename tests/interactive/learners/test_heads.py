"""The fused catalogue-head computations compute what the plain formulas compute: log pi(a|s),
H(pi(.|s)) and their gradients (`heads`), Q(s, a), V and E_pi Q (`QVCritic`), and IL-Rec's
critic and policy steps give the losses and parameters the plain formulas gave."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from rlrec.interactive.experience.batches import to_batch
from rlrec.interactive.learners.heads import head_log_pi_entropy
from rlrec.interactive.learners.losses import critic_loss, policy_loss, value_target
from rlrec.interactive.learners.nets import QVCritic, clamp_logits
from rlrec.seeding import torch_rng


def _plain(h, head, clamp, actions):
    log_probs = F.log_softmax(clamp_logits(head(h), clamp), dim=-1)
    log_pi = log_probs.gather(1, actions[:, None]).squeeze(1)
    return log_pi, -(log_probs.exp() * log_probs).sum(-1)


@pytest.mark.parametrize("clamp", [1.0, 15.0, None])
@pytest.mark.parametrize("upstream", ["both", "log_pi", "entropy"])
def test_fused_head_matches_the_plain_formula(clamp, upstream) -> None:
    gen = torch.Generator().manual_seed(0)
    n, d, items = 37, 8, 300  # 37 rows in chunks of 8: a short last chunk
    head = torch.nn.Linear(d, items)
    with torch.no_grad():
        head.weight.mul_(8.0)  # logits beyond the clamp, where tanh bends
    h0 = torch.randn(n, d, generator=gen)
    actions = torch.randint(0, items, (n,), generator=gen)
    adv, weight = torch.randn(n, generator=gen), torch.rand(n, generator=gen)

    def run(fn):
        head.zero_grad()
        h = h0.clone().requires_grad_(True)
        log_pi, entropy = fn(h)
        loss = {
            "both": -(log_pi * adv).mean() - 0.1 * entropy.mean() - (weight * log_pi).sum(),
            "log_pi": -(log_pi * adv).sum(),
            "entropy": -(entropy * adv).sum(),
        }[upstream]
        loss.backward()
        return [
            t.detach().clone() for t in (log_pi, entropy, h.grad, head.weight.grad, head.bias.grad)
        ]

    expected = run(lambda h: _plain(h, head, clamp, actions))
    got = run(lambda h: head_log_pi_entropy(h, head, clamp, actions, chunk=8))
    for name, g, e in zip(("log_pi", "entropy", "dh", "dW", "db"), got, expected, strict=True):
        assert torch.allclose(g, e, rtol=1e-4, atol=1e-5), name
        assert e.abs().max() > 0 or name == "dh", name  # something to compare


def test_qv_critic_reads_the_rows_it_needs() -> None:
    torch.manual_seed(0)
    qv = QVCritic(40, 6)
    h = torch.randn(9, 6, requires_grad=True)
    actions = torch.randint(0, 40, (9,))
    q_all, v = qv(h)
    expected_q = q_all.gather(1, actions[:, None]).squeeze(1)
    (expected_q.sum() + v.sum()).backward()
    expected_grads = [p.grad.clone() for p in qv.parameters()]
    qv.zero_grad()
    q, v2 = qv.at(h, actions)
    assert torch.allclose(q, expected_q, atol=1e-6) and torch.allclose(v2, v)
    (q.sum() + v2.sum()).backward()
    for p, e in zip(qv.parameters(), expected_grads, strict=True):
        assert torch.allclose(p.grad, e, atol=1e-6)  # dense, zero outside the picked rows
    assert torch.allclose(qv.value(h), v)
    probs = torch.softmax(torch.randn(9, 40), -1)
    assert torch.allclose(qv.expected_q(h, probs), (probs * q_all).sum(-1), atol=1e-5)


@pytest.fixture
def learner(small_world):
    from rlrec.interactive.experience.offline_data import scripted_demos
    from rlrec.interactive.learners.ilrec import ILRec, ILRecConfig

    demos = scripted_demos(small_world, np.arange(10), seed=0)
    cfg = ILRecConfig(  # env records as likely as demonstrations: mixed batches
        train_episodes=10_000, episodes_per_iteration=16, batch_size=32, env_priority=1.0
    )
    learner = ILRec(small_world, cfg, 0, demos)
    learner.step()  # something in the replay
    return learner


def _plain_policy_step(learner, sample, is_demo, w) -> float:
    """IL-Rec's policy step as written before the fused head (full [B, I] log-softmax)."""
    from rlrec.interactive.experience.batches import as_tensor
    from rlrec.interactive.learners.losses import normalised_advantage
    from rlrec.interactive.learners.training import train_mode

    b, cfg = to_batch(sample), learner.cfg
    with torch_rng(learner.gen), train_mode(learner.net):
        h = learner.net.tracker(b.s)
    log_probs = F.log_softmax(learner.net.logits(h), dim=-1)
    with torch.no_grad():
        q_all, v = learner.qv(h)
        adv = normalised_advantage(
            q_all.gather(1, b.actions[:, None]).squeeze(1), v, cfg.advantage_clip
        )
    loss = policy_loss(
        log_probs, b.actions, adv, as_tensor(w, np.float32), as_tensor(is_demo, np.bool_),
        cfg.alpha_ent, cfg.lambda_imit, per_demo=learner.paper_weighting,
    )  # fmt: skip
    learner.opt.zero_grad()
    loss.backward()
    learner.opt.step()
    learner.net.project_actor(cfg.actor_row_norm, cfg.actor_bias_clamp)
    return loss.item()


def _plain_critic_step(learner, sample, w) -> float:
    from rlrec.interactive.experience.batches import as_tensor

    b = to_batch(sample)
    with torch.no_grad():
        h = learner.net.tracker(b.s)
        _, v_next = learner.qv_target(learner.net.tracker(b.next_s))
        y = value_target(b.rewards, v_next, b.done, learner.cfg.gamma)
    q_all, v = learner.qv(h)
    q = q_all.gather(1, b.actions[:, None]).squeeze(1)
    loss = critic_loss(q, v, y, as_tensor(np.ones_like(w), np.float32))
    learner.qv_opt.zero_grad()
    loss.backward()
    learner.qv_opt.step()
    return loss.item()


def _same_gradients(a: torch.nn.Module, b: torch.nn.Module) -> None:
    """Gradients, not parameters after Adam: Adam scales a gradient that is zero up to
    rounding (a query bias under softmax) to a full step, so rounding alone moves those."""
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        if p.grad is None:
            assert q.grad is None, name
            continue
        scale = max(float(q.grad.abs().max()), 1e-6)
        assert torch.allclose(p.grad, q.grad, rtol=1e-4, atol=1e-5 * scale), name


def test_policy_and_critic_steps_are_unchanged(learner, monkeypatch) -> None:
    """Same seed, same minibatch: the fused steps give the plain steps' losses and gradients."""
    learner.lambda_irl = 0.0  # the critic reference above has no IRL reward
    plain = copy.deepcopy(learner)
    for model in (learner, plain):  # keep the weights: compare every step's gradients
        for opt in (model.opt, model.qv_opt):
            monkeypatch.setattr(opt, "step", lambda: None)
    for _ in range(3):
        sample, is_demo, w = learner._sample()
        monkeypatch.setattr(learner, "_sample", lambda s=sample, d=is_demo, w=w: (s, d, w))
        assert is_demo.any() and not is_demo.all()
        expected = _plain_policy_step(plain, sample, is_demo, w)
        assert learner._policy_step() == pytest.approx(expected, rel=1e-5, abs=1e-6)
        _same_gradients(learner.net, plain.net)
        expected = _plain_critic_step(plain, sample, w)
        assert learner._critic_step() == pytest.approx(expected, rel=1e-5, abs=1e-6)
        _same_gradients(learner.qv, plain.qv)


def test_rollouts_on_the_inference_path_sample_the_same_actions(learner) -> None:
    """IL-Rec rolls out with a NumPy copy of its policy (`inference.FastScorer`): the
    same actions as the network for the same generator state."""
    from rlrec.interactive.experience.rollout import sampler
    from rlrec.interactive.learners.inference import FastScorer

    net = learner.net
    scorer = FastScorer(net.tracker, net.actor, net.logit_clamp)
    rng = np.random.default_rng(0)
    for batch in (1, 5, 64):
        users = rng.integers(0, learner.n_users, batch)
        items = rng.integers(-1, learner.env.n_items, (batch, 4))
        rewards = rng.uniform(0, 5, (batch, 4)).astype(np.float32)
        expected = sampler(net.scores, torch.Generator().manual_seed(batch))(users, items, rewards)
        got = sampler(scorer.scores, torch.Generator().manual_seed(batch))(users, items, rewards)
        np.testing.assert_array_equal(got, expected)
