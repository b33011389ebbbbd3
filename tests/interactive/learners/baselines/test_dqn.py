"""The DQN family's TD target: max of the target network, or (Double DQN) the target network
at the online network's argmax; no bootstrap where the episode ended."""

from __future__ import annotations

import numpy as np
import torch

from rlrec.interactive.experience.batches import Batch, state_batch
from rlrec.interactive.learners.baselines.dqn import td_target


def test_td_target_by_hand():
    class Fixed(torch.nn.Module):  # Q(s', .) independent of the state
        def __init__(self, q):
            super().__init__()
            self.value = torch.tensor(q)

        def forward(self, s):
            return self.value.expand(len(s), -1), None

    s = state_batch(np.zeros(2), -np.ones((2, 4)), np.zeros((2, 4)))
    b = Batch(s, s, torch.tensor([0, 1]), torch.tensor([1.0, 2.0]), torch.tensor([0.0, 1.0]))
    online, target = Fixed([[0.0, 5.0, 1.0]]), Fixed([[3.0, 0.5, 4.0]])
    # DQN: max of the target net; Double DQN: the target net at the online argmax (item 1)
    dqn = td_target(b, online, target, gamma=0.5, double=False)
    double = td_target(b, online, target, gamma=0.5, double=True)
    np.testing.assert_allclose(dqn.numpy(), [1.0 + 0.5 * 4.0, 2.0])
    np.testing.assert_allclose(double.numpy(), [1.0 + 0.5 * 0.5, 2.0])
