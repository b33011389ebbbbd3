"""The IRL parts of IL-Rec: the IRL reward, the density ratio, the AIRL form, the state-action
text."""

import pytest
import torch

from rlrec.interactive.learners.irl import (
    Discriminator,
    irl_reward,
    log_density_ratio,
    state_action_text,
)


def test_irl_reward_and_density_ratio_follow_the_formulas():
    logit = torch.tensor([-2.0, 0.0, 3.0, 100.0], dtype=torch.float64)
    d = torch.sigmoid(logit).clamp(1e-8, 1 - 1e-8)
    assert torch.allclose(irl_reward(logit), -torch.log(d), atol=1e-5)
    assert torch.allclose(log_density_ratio(logit, 0.5), 0.5 * torch.log((1 - d) / d), atol=1e-4)
    airl = Discriminator(3, airl=True)
    x, log_pi = torch.randn(4, 3), torch.log(torch.tensor([0.1, 0.2, 0.3, 0.4]))
    f = airl.net(x).squeeze(-1)
    d_demo = torch.exp(f) / (torch.exp(f) + torch.exp(log_pi))  # D = exp f / (exp f + pi)
    assert torch.allclose(torch.sigmoid(-airl(x, log_pi)), d_demo, atol=1e-5)
    with pytest.raises(ValueError, match="log pi"):
        airl(x)


def test_state_action_text_is_the_release_template():
    text = state_action_text("amazon", 7, [-1, 3], [0.0, 4.5], 9, "Dune")
    assert text.splitlines() == [
        "template=ilrec_state_action_v1",
        "dataset=amazon",
        "user_id=7",
        "history=[item_id=3 reward=4.500000]",
        "candidate=item_id=9 text=Dune",
    ]
