"""Behaviour encoder + meta-network bridges (bridge.py)."""

from __future__ import annotations

import torch

from rlrec.crossdomain.bridge import Bridges


def test_padding_is_ignored_and_shapes() -> None:
    torch.manual_seed(0)
    br = Bridges(n_domains=3, item_dim=4, in_dim=4, out_dim=4, meta_dim=8, shared=False)
    u, x = torch.randn(2, 3, 4), torch.randn(2, 3, 5, 4)
    mask = torch.ones(2, 3, 5, dtype=torch.bool)
    mask[:, :, 3:] = False
    e = br(u, x, mask)
    assert e.shape == (2, 3, 4)
    x2 = x.clone()
    x2[:, :, 3:] = 100.0  # whatever sits behind the mask does not matter
    torch.testing.assert_close(br(u, x2, mask), e)
    # e = u W with W from the meta-network: check one entry by hand
    w = br.matrices(br.encode(x, mask))
    torch.testing.assert_close(e[1, 2], u[1, 2] @ w[1, 2])


def test_shared_bridge_has_one_set_of_weights() -> None:
    per = Bridges(3, 4, 4, 4, 8, shared=False)
    shared = Bridges(3, 4, 4, 4, 8, shared=True)
    assert per.meta2.weight.shape[0] == 3 and shared.meta2.weight.shape[0] == 1
    u, x = torch.randn(2, 3, 4), torch.randn(2, 3, 5, 4)
    mask = torch.ones(2, 3, 5, dtype=torch.bool)
    assert shared(u, x, mask).shape == (2, 3, 4)
    # same user and sequence in every domain -> the same output in every domain
    same = shared(u[:, :1].expand(-1, 3, -1), x[:, :1].expand(-1, 3, -1, -1), mask)
    torch.testing.assert_close(same[:, 0], same[:, 2])
