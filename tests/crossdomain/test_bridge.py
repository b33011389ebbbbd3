"""Behaviour encoder + meta-network bridges (bridge.py)."""

from __future__ import annotations

import torch

from rlrec.crossdomain.bridge import Bridges
from rlrec.seeding import torch_rng


def batch(b=2, n=3, length=5, rows=12, k=4):
    """(u, table, seqs, mask): the last `length - 3` positions of every sequence are padding."""
    table = torch.randn(rows, k)
    seqs = torch.randint(0, rows, (b, n, length))
    mask = torch.ones(b, n, length, dtype=torch.bool)
    mask[:, :, 3:] = False
    return torch.randn(b, n, k), table, seqs, mask


def test_padding_is_ignored_and_shapes() -> None:
    with torch_rng(0):
        br = Bridges(n_domains=3, item_dim=4, in_dim=4, out_dim=4, meta_dim=8, shared=False)
        u, table, seqs, mask = batch()
    e = br(u, table, seqs, mask)
    assert e.shape == (2, 3, 4)
    other = seqs.clone()
    other[:, :, 3:] = 0  # whatever sits behind the mask does not matter
    torch.testing.assert_close(br(u, table, other, mask), e)
    # e = u W with W from the meta-network: check one entry by hand
    w = br.matrices(br.encode(table, seqs, mask))
    torch.testing.assert_close(e[1, 2], u[1, 2] @ w[1, 2])


def test_encoder_is_attention_pooling_of_the_sequence_vectors() -> None:
    """q = sum_l softmax_l(w2^T ReLU(W1 x_l + b1)) x_l over the unmasked x_l = table[s_l],
    computed here the slow way, on the gathered vectors, one domain at a time."""
    with torch_rng(1):
        br = Bridges(n_domains=3, item_dim=4, in_dim=4, out_dim=4, meta_dim=8, shared=False)
        _, table, seqs, mask = batch()
    q = br.encode(table, seqs, mask)
    for d in range(3):
        x = table[seqs[:, d, :3]]  # [B, 3, k]: the unmasked positions
        hidden = torch.relu(x @ br.enc1.weight[d] + br.enc1.bias[d])
        alpha = torch.softmax((hidden @ br.enc2.weight[d]).squeeze(-1), dim=-1)
        torch.testing.assert_close(q[:, d], (alpha.unsqueeze(-1) * x).sum(1))
    loss = q.square().sum()
    loss.backward()
    assert br.enc1.weight.grad.abs().sum() > 0  # the encoder learns through the lookup


def test_shared_bridge_has_one_set_of_weights() -> None:
    per = Bridges(3, 4, 4, 4, 8, shared=False)
    shared = Bridges(3, 4, 4, 4, 8, shared=True)
    assert per.meta2.weight.shape[0] == 3 and shared.meta2.weight.shape[0] == 1
    u, table, seqs, mask = batch()
    assert shared(u, table, seqs, mask).shape == (2, 3, 4)
    # same user and sequence in every domain -> the same output in every domain
    same = shared(u[:, :1].expand(-1, 3, -1), table, seqs[:, :1].expand(-1, 3, -1), mask)
    torch.testing.assert_close(same[:, 0], same[:, 2])
