"""IL-Rec: imitation-enhanced RL from weighted LLM demonstrations (Zhang, Xie et al., ICDM 2025,
arXiv 2510.13229), as docs/ilrec.md describes it (equations, defaults, the release's departures).

One training iteration (the "paper" mode, docs/ilrec.md#training-schedule, done in batches):

1. Roll out the policy (sampling) for `episodes_per_iteration` train users at once in the
   vectorised world model; push the transitions into the environment replay buffer B_env.
2. Every `discriminator_every` episodes: `discriminator_steps` BCE steps of D on balanced batches
   of recent policy pairs (label 1) against demonstration pairs (label 0) (`irl.py`).
   Demonstration weights (`weighting.py`), by `weighting`:
   - `advantage` (default): every iteration, w = exp(A / beta) w_IRL'^(1 - alpha) with
     A = Q(s, a_demo) - V_pi(s) from the learner's own Q and policy (V_pi(s) = E_pi Q(s, .))
     and the discriminator's ratio
     relative to its mean, clipped at `weight_max` and *not* renormalised (advantage-weighted
     regression, Peng et al. 2019, used as self-imitation, Oh et al. 2018): imitation fades
     where the learner already does better than the demonstrations and stays strong where
     they are better, so an expert worse than the learner is switched off;
   - `paper` (docs/ilrec.md#demonstration-weights): after each D training the weights of *all*
   demonstrations are
     recomputed and normalised to mean 1 over them, refitting A_demo = Q_demo - V_demo (both
     regress the demos' own returns) every `value_refit_every` episodes on the current
     features. The imitation term keeps its full strength whatever the expert's quality.
3. `updates_per_iteration` times:
   - critic step on a mixed batch (`experience.buffer.mixed_sample`, the "global_priority" rule):
       y = r + gamma * V_target(s') * (1 - done),  r = r_wm + lambda_irl * r_IRL(s, a)
       L_critic = mean_i w_i (Q(s_i, a_i) - y_i)^2 + MSE(V(s_i), y_i)      (w_i = 1 for env)
     (`advantage` weighting: w_i = 1 for demos too, a demonstration is a real transition of
     the world model and the gate needs Q of bad demonstrated actions to stay learned);
     with a hard target copy every `target_update_every` critic steps;
   - policy step (docs/ilrec.md#critic-and-policy-losses) on a second, independent mixed batch:
       A_i = clip(normalise(Q(s_i, a_i) - V(s_i)), -c, c)
       L_RL = -mean_i log pi(a_i|s_i) A_i - alpha_ent * mean_i H(pi(.|s_i))
       L_imit = -(1 / |B_demo|) sum_{i demo} w_i log pi(a_i|s_i)    (paper, parity)
       L_imit = -(1 / |B|) sum_{i demo} w_i log pi(a_i|s_i)         (advantage weighting)
     (the advantage weighting averages over the whole batch, as AWR and self-imitation take an
     expectation over the replay: a demonstration pulls in proportion to how often its weight
     has it sampled; divided by |B_demo|, one rarely drawn bad demonstration got the pull of a
     whole batch whenever it was drawn);
       L = L_RL + lambda_imit * L_imit,   then the actor projection (nets.py).

`mode="parity"` reproduces the release (docs/ilrec.md#departures-of-the-released-code): users cycled
in order, one critic and one policy step of batch 8 per episode, an unbounded B_env, A_demo fitted
once before training on the untrained tracker's features, one D step every 5,000 episodes on the
current 8-demo batch against this iteration's policy pairs, weights recomputed for those 8 only
(normalised over them), and the world-model reward alone (lambda_irl = 0). Parity ignores
`weighting`.

Ablations (docs/ilrec.md#ablations) are config switches: `use_weights=False` (w/o w), `alpha=0` (w/o
w_env), `alpha=1` (w/o w_IRL), `lambda_irl=0` (w/o the IRL reward), `use_demos=False` (pure RL).
"""

from __future__ import annotations

import copy
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field
from torch.nn import functional as F

from rlrec.config import Config
from rlrec.errors import ConfigError
from rlrec.interactive.env import QuitConfig
from rlrec.interactive.experience.batches import StateBatch, as_tensor, state_batch, to_batch
from rlrec.interactive.experience.buffer import ReplayBuffer, mixed_sample
from rlrec.interactive.experience.rollout import TorchPolicy, sampler
from rlrec.interactive.experience.transitions import Transitions, discounted_returns
from rlrec.interactive.learners.base import OnlineLearner
from rlrec.interactive.learners.heads import head_log_pi_entropy
from rlrec.interactive.learners.inference import FastScorer
from rlrec.interactive.learners.irl import (
    Discriminator,
    TextFeatures,
    accuracy,
    irl_reward,
    log_density_ratio,
)
from rlrec.interactive.learners.losses import (
    critic_loss,
    discriminator_loss,
    normalised_advantage,
    policy_objective,
    value_target,
)
from rlrec.interactive.learners.nets import ActorCritic, QVCritic
from rlrec.interactive.learners.training import adam, train_mode
from rlrec.interactive.learners.weighting import advantage_weights, demo_advantage, demo_weights
from rlrec.interactive.world.worldmodel import WorldModel
from rlrec.seeding import torch_rng

PARITY_BATCH = 8  # the release's mixed-replay and demo batch size
PARITY_DISCRIMINATOR_EVERY = 5000


class ILRecConfig(Config):
    """IL-Rec's hyper-parameters.

    Defaults: the paper's best Amazon-Book values (beta 1, alpha 0.25, alpha_ent 0.1,
    lambda_imit 0.5, logit clamp 1); for Steam use beta 10, alpha 0.5, lambda_imit 0.25,
    logit_clamp 15 (docs/ilrec.md#defaults). The update schedule, 16 critic + policy steps of
    128 records per 64 episodes (32 + 32 samples per episode), is 4x the release's 8 + 8 in
    larger batches: with the release's 8 + 8 the actor-critic without demonstrations learned
    no better than random where A2C, which takes one gradient step per minibatch of every
    fresh transition, climbed (measured on a synthetic world of long episodes, 1,000 episodes,
    3 seeds: random 16.9, A2C 19.4 +- 2.2, 4 steps 15.9 +- 2.0, 16 steps 30.9 +- 0.9, 32 steps
    40.2 +- 4.0; the logit clamp, entropy bonus, advantage normalisation and clip, gamma,
    learning rates, batch size and replay size changed little or hurt, docs/ilrec.md). The
    number of gradient steps was what held it back; parity keeps the release's schedule."""

    mode: Literal["paper", "parity"] = Field(
        "paper", description="paper: the method done properly; parity: the release's behaviour"
    )
    train_episodes: int = Field(100_000, ge=1, description="training episodes (paper: 100,000)")
    episodes_per_iteration: int = Field(64, ge=1, description="users rolled out together")
    updates_per_iteration: int = Field(
        16, ge=1, description="critic + policy steps per iteration (release: 1 per episode)"
    )
    batch_size: int = Field(128, ge=2, description="mixed-replay batch per update")
    dim: int = Field(32, ge=1, description="hidden size d of every network")
    window: int = Field(4, ge=1, description="W: (item, reward) pairs in the state")
    user_dropout: float = Field(
        0.1, ge=0, lt=1, description="share of training states shown as a new user (test users)"
    )
    lr: float = Field(1e-3, gt=0, description="policy learning rate")
    critic_lr: float = Field(1e-3, gt=0, description="QV critic learning rate")
    gamma: float = Field(0.5, ge=0, le=1, description="discount of the critic and demo returns")
    target_update_every: int = Field(10, ge=1, description="critic steps between target copies")
    beta: float = Field(1.0, gt=0, description="temperature of w_env = exp(A_demo / beta)")
    alpha: float = Field(0.25, ge=0, le=1, description="fusion w_env^alpha * w_IRL^(1-alpha)")
    gamma_irl: float = Field(1.0, ge=0, description="exponent of w_IRL = ((1 - D) / D)^gamma")
    alpha_ent: float = Field(0.1, ge=0, description="policy entropy bonus")
    lambda_imit: float = Field(0.5, ge=0, description="weight of the imitation loss")
    lambda_irl: float = Field(
        0.1, ge=0, description="weight of r_IRL = -log D in the RL reward (parity: 0)"
    )
    use_demos: bool = Field(True, description="False: pure RL (no demonstrations, no IRL)")
    use_weights: bool = Field(True, description="False: every demonstration weighs 1")
    weighting: Literal["advantage", "paper"] = Field(
        "advantage",
        description="advantage: A against the learner's critic, no renormalisation (a bad "
        "expert fades); paper: A_demo on the demos' returns, weights normalised to mean 1",
    )
    weight_max: float = Field(20.0, gt=0, description="advantage weighting: clip of w (AWR: 20)")
    advantage_clip: float = Field(5.0, gt=0, description="clip of the normalised advantage")
    logit_clamp: float | None = Field(1.0, description="c of c*tanh(logits/c); null = off")
    actor_row_norm: float | None = Field(10.0, description="actor row L2 bound; null = off")
    actor_bias_clamp: float | None = Field(5.0, description="actor bias bound; null = off")
    env_priority: float = Field(0.05, gt=0, description="sampling weight of an env record")
    env_capacity: int = Field(20_000, ge=1, description="B_env size (parity: unbounded)")
    features: Literal["state_tracker", "text"] = Field(
        "state_tracker", description="discriminator input: policy features or text embeddings"
    )
    airl: bool = Field(False, description="AIRL form D = exp f / (exp f + pi)")
    discriminator_hidden: int = Field(32, ge=1, description="hidden size of D")
    discriminator_lr: float = Field(1e-3, gt=0, description="learning rate of D")
    discriminator_every: int = Field(256, ge=1, description="episodes between D trainings")
    discriminator_steps: int = Field(10, ge=1, description="BCE steps per D training")
    discriminator_batch: int = Field(128, ge=1, description="pairs per side in a D step")
    value_steps: int = Field(100, ge=1, description="Adam steps fitting Q_demo / V_demo")
    value_lr: float = Field(1e-2, gt=0, description="learning rate of Q_demo / V_demo")
    value_refit_every: int = Field(2048, ge=1, description="episodes between A_demo refits")


class ILRec(OnlineLearner):
    """The IL-Rec learner (a `training.Learner`; unit: episodes). On the shared learner base
    (`base.OnlineLearner`): its networks, optimisers, generators and counters are
    checkpointed as the baselines' are, and its users are handed out in passes over one
    seeded permutation of the train rows (in row order in parity), the same order every
    pass, as the release cycles its users. Its losses are the pure functions of `losses`."""

    name = "il-rec"
    reshuffle = False
    state_version = 2  # 1: the layout of its own before IL-Rec stood on the learner base

    def __init__(
        self,
        world: WorldModel,
        cfg: ILRecConfig,
        seed: int = 0,
        demos: Transitions | None = None,
        quit: QuitConfig | None = None,
        text_embedder: Any = None,
    ) -> None:
        if cfg.use_demos and (demos is None or not len(demos)):
            raise ConfigError("IL-Rec needs demonstrations (or ilrec.use_demos=false: pure RL)")
        parity = cfg.mode == "parity"
        in_order = np.arange(len(world.users["train"])) if parity else None
        super().__init__(world, quit, seed, order=in_order)
        self.cfg = cfg
        self.parity = parity
        self.paper_weighting = self.parity or cfg.weighting == "paper"
        self.lambda_irl = 0.0 if self.parity or not cfg.use_demos else cfg.lambda_irl
        self.batch = PARITY_BATCH if self.parity else cfg.batch_size
        n_users = self.n_users
        with torch_rng(self.gen):  # seeded initialisation; the global RNG is left alone
            self.net = ActorCritic(
                n_users, world.n_items, cfg.dim, cfg.window, cfg.logit_clamp, cfg.user_dropout
            )
            self.qv = QVCritic(world.n_items, cfg.dim)
            in_dim = 2 * cfg.dim
            if cfg.features == "text":
                if text_embedder is None:
                    raise ConfigError("ilrec.features=text needs a sentence embedder")
                in_dim = int(text_embedder.dim)
            self.disc = Discriminator(in_dim, cfg.discriminator_hidden, cfg.airl)
        self.qv_target = copy.deepcopy(self.qv)
        self.opt = adam(self.net.parameters(), cfg.lr)
        self.qv_opt = adam(self.qv.parameters(), cfg.critic_lr)
        capacity = cfg.train_episodes * self.env.quit.max_turns if self.parity else None
        self.buffer = ReplayBuffer(min(capacity or cfg.env_capacity, 2_000_000), cfg.window)
        self.demos = demos if cfg.use_demos else None
        self.text = None
        if cfg.features == "text":
            titles = world.items.get("title", world.items["item_id"]).astype(str).tolist()
            self.text = TextFeatures(
                text_embedder, world.meta.get("dataset", "data"), world.users["train"], titles
            )
        self.disc_opt = adam(self.disc.parameters(), cfg.discriminator_lr)
        self.modules = {
            "net": self.net,
            "qv": self.qv,
            "qv_target": self.qv_target,
            "disc": self.disc,
        }
        self.optimizers = {"opt": self.opt, "qv_opt": self.qv_opt, "disc_opt": self.disc_opt}
        self.counters = {"episodes": 0, "updates": 0, "demo_cursor": 0}  # updates: critic steps
        self.last = {"loss/discriminator": float("nan"), "discriminator/accuracy": float("nan")}
        self.eval_mode()
        if self.demos is not None:
            self.demo_returns = discounted_returns(demos.rewards, demos.episodes, cfg.gamma)
            self.weights = np.ones(len(demos), dtype=np.float32)
            self.advantage = np.zeros(len(demos), dtype=np.float32)
            if self.paper_weighting:
                self.advantage = self._fit_advantage()
            if not self.parity:
                self._reweight(np.arange(len(demos)))

    # ------------------------------------------------------------------------- features
    @torch.no_grad()
    def _pair_features(self, t: Transitions) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(x(s, a) for D, log pi(a|s) for the AIRL form) under the current policy."""
        h = self.net.tracker(_states(t))
        actions = as_tensor(t.actions, np.int64)
        log_pi = None
        if self.cfg.airl:
            log_pi = F.log_softmax(self.net.logits(h), -1).gather(1, actions[:, None]).squeeze(1)
        if self.text is not None:
            x = self.text(t.users, t.window_items, t.window_rewards, t.actions)
        else:
            x = torch.cat([h, self.net.tracker.item_emb(actions)], dim=1)
        return x, log_pi

    @torch.no_grad()
    def _disc_logit(self, t: Transitions) -> torch.Tensor:
        x, log_pi = self._pair_features(t)
        return self.disc(x, log_pi)

    # ------------------------------------------------------------------------- weights
    def _fit_advantage(self) -> np.ndarray:
        """A_demo of every demo on the current features (parity: once, untrained tracker)."""
        with torch.no_grad():
            state_x = self.net.tracker(_states(self.demos))
        pair_x, _ = self._pair_features(self.demos)
        returns = as_tensor(self.demo_returns, np.float32)
        seed = int(self.rng.integers(2**31))
        cfg = self.cfg
        return demo_advantage(state_x, pair_x, returns, cfg.value_steps, cfg.value_lr, seed)

    @torch.no_grad()
    def _critic_advantage(self, t: Transitions) -> np.ndarray:
        """A = Q(s, a) - V_pi(s) per transition, with the learner's current Q and its own
        policy's value V_pi(s) = sum_b pi(b|s) Q(s, b). (The critic's V head regresses the
        mixed batch, demonstrations included, so it is partly the expert's value: against it a
        bad demonstration would look only mildly bad.)"""
        h = self.net.tracker(_states(t))
        q, _ = self.qv.at(h, as_tensor(t.actions, np.int64))
        v_pi = self.qv.expected_q(h, F.softmax(self.net.logits(h), dim=-1))
        return (q - v_pi).numpy()

    def _reweight(self, index: np.ndarray) -> None:
        """Recompute the weights of demos `index` (paper: normalised over them)."""
        if not self.cfg.use_weights:
            return
        cfg, demos = self.cfg, self.demos.take(index)
        ratio = log_density_ratio(self._disc_logit(demos), cfg.gamma_irl).numpy()
        if self.paper_weighting:
            self.weights[index] = demo_weights(self.advantage[index], ratio, cfg.beta, cfg.alpha)
            return
        self.advantage[index] = self._critic_advantage(demos)
        self.weights[index] = advantage_weights(
            self.advantage[index], ratio, cfg.beta, cfg.alpha, cfg.weight_max
        )

    # ------------------------------------------------------------------------- discriminator
    def _train_discriminator(self, policy_pairs: Transitions, demo_pairs: Transitions) -> None:
        self.disc.train()
        pol_x, pol_log_pi = self._pair_features(policy_pairs)
        demo_x, demo_log_pi = self._pair_features(demo_pairs)
        steps = 1 if self.parity else self.cfg.discriminator_steps
        n = self.cfg.discriminator_batch
        for _ in range(steps):
            if self.parity:  # the whole 8-demo batch against this iteration's pairs
                pi, di = np.arange(len(pol_x)), np.arange(len(demo_x))
            else:  # balanced batches
                pi = self.rng.integers(0, len(pol_x), n)
                di = self.rng.integers(0, len(demo_x), n)
            pol_logit = self.disc(pol_x[pi], _at(pol_log_pi, pi))
            demo_logit = self.disc(demo_x[di], _at(demo_log_pi, di))
            loss = discriminator_loss(pol_logit, demo_logit)
            self.disc_opt.zero_grad()
            loss.backward()
            self.disc_opt.step()
        self.disc.eval()
        self.last = {
            "loss/discriminator": loss.item(),
            "discriminator/accuracy": accuracy(pol_logit, demo_logit),
        }

    def _discriminator_phase(self, start: int, end: int, rollout_pairs: Transitions) -> None:
        """Train D and reweight when an interval boundary falls in episodes [start, end)."""
        every = PARITY_DISCRIMINATOR_EVERY if self.parity else self.cfg.discriminator_every
        if self.demos is None or not _crosses(start, end, every):
            return
        n_demo = len(self.demos)
        if self.parity:
            batch = (self.counters["demo_cursor"] + np.arange(PARITY_BATCH)) % n_demo
            self._train_discriminator(rollout_pairs, self.demos.take(batch))
            self._reweight(batch)
            return
        recent = self.buffer.recent(max(self.cfg.discriminator_batch * 8, 1024))
        self._train_discriminator(recent, self.demos)
        if not self.paper_weighting:
            return  # the advantage weighting reweights every iteration (`step`)
        if _crosses(max(start, 1), end, self.cfg.value_refit_every):  # fitted at episode 0
            self.advantage = self._fit_advantage()
        self._reweight(np.arange(n_demo))

    # ------------------------------------------------------------------------- updates
    def _sample(self) -> tuple[Transitions, np.ndarray, np.ndarray]:
        return mixed_sample(
            self.buffer, self.demos, self.weights if self.demos is not None else None,
            self.batch, self.cfg.env_priority, self.rng,
        )  # fmt: skip

    def _critic_step(self) -> float:
        sample, _, w = self._sample()
        b = to_batch(sample)
        rewards = b.rewards
        if self.lambda_irl:
            rewards = rewards + self.lambda_irl * irl_reward(self._disc_logit(sample))
        with torch.no_grad():  # s and s' through the tracker in one pass
            h, h_next = self.net.tracker(_cat_states(b.s, b.next_s)).split(len(b.s))
            v_next = self.qv_target.value(h_next)  # the target's V alone
            y = value_target(rewards, v_next, b.done, self.cfg.gamma)
        q, v = self.qv.at(h, b.actions)  # Q(s, a) from the rows of the actions only
        if not self.paper_weighting:
            w = np.ones_like(w)
        loss = critic_loss(q, v, y, as_tensor(w, np.float32))
        self.qv_opt.zero_grad()
        loss.backward()
        self.qv_opt.step()
        self.counters["updates"] += 1
        if self.counters["updates"] % self.cfg.target_update_every == 0:
            self.qv_target.load_state_dict(self.qv.state_dict())
        return loss.item()

    def _policy_step(self) -> float:
        sample, is_demo, w = self._sample()
        b = to_batch(sample)
        cfg = self.cfg
        with torch_rng(self.gen), train_mode(self.net):  # dropout, user dropout
            h = self.net.tracker(b.s)
        # log pi(a|s) and H(pi(.|s)) through the fused catalogue head (`heads`)
        log_pi, entropy = head_log_pi_entropy(h, self.net.actor, self.net.logit_clamp, b.actions)
        with torch.no_grad():
            q, v = self.qv.at(h, b.actions)
            adv = normalised_advantage(q, v, cfg.advantage_clip)
        loss = policy_objective(
            log_pi, entropy, adv, as_tensor(w, np.float32), as_tensor(is_demo, np.bool_),
            cfg.alpha_ent, cfg.lambda_imit, per_demo=self.paper_weighting,
        )  # fmt: skip
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.net.project_actor(self.cfg.actor_row_norm, self.cfg.actor_bias_clamp)
        return loss.item()

    # ------------------------------------------------------------------------- Learner
    def step(self) -> dict[str, float]:
        cfg, counters = self.cfg, self.counters
        start = counters["episodes"]
        n = max(min(cfg.episodes_per_iteration, cfg.train_episodes - start), 1)
        # the rollout scores with this iteration's policy on the inference path (a copy of
        # its weights in NumPy: no autograd or per-op dispatch in the sequential steps)
        scorer = FastScorer(self.net.tracker, self.net.actor, self.net.logit_clamp)
        episodes = self.play(sampler(scorer.scores, self.gen), n)
        self.buffer.add(episodes.transitions)
        self._discriminator_phase(start, counters["episodes"], episodes.transitions)
        if self.demos is not None and not self.paper_weighting:
            self._reweight(np.arange(len(self.demos)))
        if self.parity:
            cursor = counters["demo_cursor"] + PARITY_BATCH * n
            counters["demo_cursor"] = cursor % max(self._n_demos, 1)
        updates = n if self.parity else cfg.updates_per_iteration
        critic = [self._critic_step() for _ in range(updates)]
        policy = [self._policy_step() for _ in range(updates)]
        stats = {
            **self.report(episodes),
            "loss/critic": float(np.mean(critic)),
            "loss/policy": float(np.mean(policy)),
            **self.last,
        }
        if self.demos is not None:
            stats["weights/max"] = float(self.weights.max())
            stats["weights/min"] = float(self.weights.min())
        return stats

    @property
    def _n_demos(self) -> int:
        return 0 if self.demos is None else len(self.demos)

    def policy(self) -> TorchPolicy:
        return TorchPolicy(self.name, self.net.scores)

    def discriminator_probability(self, t: Transitions) -> np.ndarray:
        """D(s, a) = P(policy | s, a) for each transition (for reports and tests)."""
        return torch.sigmoid(self._disc_logit(t)).numpy()

    def extra_state(self) -> dict[str, Any]:
        state = {**super().extra_state(), "buffer": self.buffer.state_dict(), "last": self.last}
        if self.demos is not None:
            state["weights"] = self.weights
            state["advantage"] = self.advantage
        return state

    def load_extra_state(self, state: dict[str, Any]) -> None:
        super().load_extra_state(state)
        self.buffer.load_state_dict(state["buffer"])
        self.last = dict(state["last"])
        if self.demos is not None:
            self.weights = np.asarray(state["weights"], dtype=np.float32).copy()
            self.advantage = np.asarray(state["advantage"]).copy()


def _crosses(start: int, end: int, every: int) -> bool:
    """Whether a multiple of `every` lies in [start, end)."""
    return -(-start // every) * every < end


def _cat_states(a: StateBatch, b: StateBatch) -> StateBatch:
    """The states of `a` then those of `b`, as one batch."""
    return StateBatch(
        torch.cat([a.users, b.users]), torch.cat([a.items, b.items]),
        torch.cat([a.rewards, b.rewards]),
    )  # fmt: skip


def _states(t: Transitions) -> StateBatch:
    return state_batch(t.users, t.window_items, t.window_rewards)


def _at(x: torch.Tensor | None, index: np.ndarray) -> torch.Tensor | None:
    return None if x is None else x[index]
