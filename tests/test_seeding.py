"""`seeding.torch_rng`: a block draws from the given stream and leaves torch's global one alone;
`seeding.seed_everything`: an entry point's global seeding is repeatable."""

import numpy as np
import torch

from rlrec.seeding import seed_everything, torch_rng


def test_a_seed_gives_the_stream_of_manual_seed_and_restores_the_global_state():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        expected = torch.randn(5)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    with torch_rng(7):
        got = torch.randn(5)
        layer = torch.nn.Linear(3, 2)  # initialisation draws from the same stream
    assert torch.equal(got, expected)
    assert torch.equal(torch.get_rng_state(), before)
    with torch_rng(7):
        torch.randn(5)
        again = torch.nn.Linear(3, 2)
    assert torch.equal(layer.weight, again.weight)


def test_a_generator_keeps_the_state_the_block_advanced_it_to():
    gen = torch.Generator().manual_seed(3)
    reference = torch.Generator().manual_seed(3)
    with torch_rng(gen):
        first = torch.rand(4)
    with torch_rng(gen):
        second = torch.rand(4)
    assert torch.equal(first, torch.rand(4, generator=reference))
    assert torch.equal(second, torch.rand(4, generator=reference))  # continues, never repeats


def test_the_global_state_is_restored_when_the_block_raises():
    before = torch.get_rng_state()
    try:
        with torch_rng(1):
            torch.rand(10)
            raise ValueError
    except ValueError:
        pass
    assert torch.equal(torch.get_rng_state(), before)


def test_seed_everything_makes_numpy_and_torch_repeatable():
    g1 = seed_everything(7)
    a = (np.random.rand(3), torch.rand(3), g1.random(3))
    g2 = seed_everything(7)
    b = (np.random.rand(3), torch.rand(3), g2.random(3))
    assert np.array_equal(a[0], b[0]) and torch.equal(a[1], b[1]) and np.array_equal(a[2], b[2])
    seed_everything(8)
    assert not torch.equal(a[1], torch.rand(3))
