"""A2C: advantage actor-critic trained in the simulator.

Mnih, Badia, Mirza, Graves, Lillicrap, Harley, Silver & Kavukcuoglu, "Asynchronous Methods for
Deep Reinforcement Learning", ICML 2016, §4 and Algorithm S3 (the synchronous, batched variant
"A2C"), as DORL / ROLeR run it through Tianshou (docs/ilrec.md#dorl: gamma 0.9, vf-coef 0.5,
ent-coef 0). The network is an `ActorCritic`: the state tracker with an actor head (logits over
all items) and a critic head V(s). Each `step()`:

1. plays one episode for each of `episodes_per_iteration` train users at once, sampling items
   from pi(. | s) = softmax(logits);
2. computes TD(0) targets and advantages with the critic before learning,
       y = r + gamma (1 - done) V(s'),   A = y - V(s)
   (`done` covers quitting and the max-turn cut alike: transitions do not record which);
3. does one pass over the iteration's transitions in `minibatches` shuffled minibatches of
       L = - A log pi(a | s)  +  vf_coef (V(s) - y)^2  -  ent_coef H(pi(. | s))
   with the gradient norm clipped at `max_grad_norm`.

`training_rewards` is the one hook a variant overrides: DORL (`dorl.py`) penalises the world
model's reward there. The reported "return" is always the simulator's own return.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from rlrec.interactive.experience.batches import Batch, to_batch
from rlrec.interactive.experience.rollout import TorchPolicy, sampler
from rlrec.interactive.experience.transitions import Transitions
from rlrec.interactive.learners.base import OnlineConfig, OnlineLearner
from rlrec.interactive.learners.nets import ActorCritic
from rlrec.interactive.learners.training import adam, train_mode
from rlrec.interactive.world.worldmodel import WorldModel
from rlrec.seeding import torch_rng


class A2CConfig(OnlineConfig):
    """A2C in the simulator (defaults: DORL's Tianshou settings where they apply)."""

    gamma: float = Field(0.9, ge=0, le=1, description="discount factor (DORL/Tianshou: 0.9)")
    vf_coef: float = Field(0.5, ge=0, description="weight of the value loss")
    ent_coef: float = Field(0.0, ge=0, description="weight of the entropy bonus (DORL: 0)")
    minibatches: int = Field(4, ge=1, description="minibatches per iteration (one pass)")
    max_grad_norm: float | None = Field(0.5, gt=0, description="gradient-norm clip; None = off")


@torch.no_grad()
def td0_advantages(net: ActorCritic, b: Batch, gamma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(targets y [N], advantages A [N]) with the critic as it is before the update."""
    value = net(b.s)[2]
    value_next = net(b.next_s)[2]
    y = b.rewards + gamma * (1.0 - b.done) * value_next
    return y, y - value


def a2c_loss(
    logits: torch.Tensor,
    value: torch.Tensor,
    actions: torch.Tensor,
    targets: torch.Tensor,
    advantages: torch.Tensor,
    vf_coef: float,
    ent_coef: float,
) -> dict[str, torch.Tensor]:
    """loss = pg + vf_coef value - ent_coef entropy with its terms as "loss/<term>"; logits
    [B, I], the rest [B]."""
    log_pi = F.log_softmax(logits, dim=1)
    pg_loss = -(log_pi.gather(1, actions[:, None]).squeeze(1) * advantages).mean()
    v_loss = F.mse_loss(value, targets)
    entropy = -(log_pi.exp() * log_pi).sum(1).mean()
    loss = pg_loss + vf_coef * v_loss - ent_coef * entropy
    return {"loss": loss, "loss/pg": pg_loss, "loss/value": v_loss, "loss/entropy": entropy}


class A2C(OnlineLearner):
    name = "a2c"
    cfg: A2CConfig

    def __init__(
        self, world: WorldModel, cfg: A2CConfig, seed: int, data: Transitions | None = None
    ) -> None:
        super().__init__(world, cfg.quit, seed)
        self.cfg = cfg
        with torch_rng(self.gen):
            self.net = ActorCritic(
                self.n_users, self.n_items, cfg.dim, self.window, user_dropout=cfg.user_dropout
            )
        self.modules = {"net": self.net}
        self.optimizers = {"opt": adam(self.net.parameters(), cfg.lr)}
        self.eval_mode()

    def training_rewards(self, t: Transitions) -> np.ndarray:
        """The reward the learner is trained on [N]: the simulator's own (DORL overrides)."""
        return t.rewards

    def step(self) -> dict[str, float]:
        c = self.cfg
        # 1. roll out a batch of episodes with the current policy
        episodes = self.play(sampler(self.net.scores, self.gen), c.episodes_per_iteration)
        t = episodes.transitions
        b = to_batch(t.with_rewards(self.training_rewards(t)))
        # 2. TD(0) targets and advantages
        targets, advantages = td0_advantages(self.net, b, c.gamma)
        # 3. one pass of minibatch updates
        terms_sum: dict[str, float] = {}
        parts = np.array_split(self.rng.permutation(len(t)), min(c.minibatches, len(t)))
        for idx in parts:
            i = torch.from_numpy(idx)
            mb = to_batch(t.take(idx))
            with torch_rng(self.gen), train_mode(self.net):
                _, logits, value = self.net(mb.s)
                terms = a2c_loss(
                    logits, value, mb.actions, targets[i], advantages[i], c.vf_coef, c.ent_coef
                )
                self.optimizers["opt"].zero_grad()
                terms["loss"].backward()
                if c.max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(self.net.parameters(), c.max_grad_norm)
                self.optimizers["opt"].step()
            self.counters["updates"] += 1
            for k, v in terms.items():
                terms_sum[k] = terms_sum.get(k, 0.0) + float(v.detach())
        stats = self.report(episodes)
        stats["train/reward"] = float(b.rewards.mean())
        return {**stats, **{k: v / len(parts) for k, v in terms_sum.items()}}

    def policy(self) -> TorchPolicy:
        return TorchPolicy(self.name, self.net.scores)
