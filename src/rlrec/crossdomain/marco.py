"""MARCO: bridged source embeddings weighted by a cooperative multi-agent PPO (Xie et al.,
SIGIR-AP 2025, arXiv 2510.04508; docs/marco.md, from #personalised-bridge to #training-schedule).

For a target rating (u, j, y) and source agents d = 1..n:
    e^d   = u^d W^d(S_u^d)                 personalised bridge (bridge.py), [B, n, k]
    a     = weights from the policy        (mappo.py), [B, n]
    y_hat = <sum_d a_d e^d, v_j> + c_j     v_j, c_j: frozen target MF item vector and offset
                                           (c_j = mu + b_j of a biased MF, mf.py); unclipped
Schedule (docs/marco.md#training-schedule): `warmup_epochs` bridge epochs with uniform weights 1/n;
then per epoch
    1. bridge update: rating MSE, policy fixed; the weights are joint actions sampled from the
       fixed policy (`bridge_weights: sampled`, default). With the mean weights softmax(mu)
       (`mean`, the release's) the bridges compensate any weighting (a scaled-up e^d
       undoes a small a_d): at the bridges' optimum E[(y_hat - y) a_d <e^d, v>] = 0, so the
       reward's first-order dependence on the weights vanishes and the policy barely learns.
       Trained under sampled weights, every e^d must predict on its own, and moving weight
       to the informative domains lowers the error (tests/crossdomain/test_marco.py);
    2. policy update: one sampled joint action per training (u, j), reward -(y_hat - y)^2
       with the bridges fixed, then the PPO update.
After each epoch MAE/RMSE on the validation users picks the epoch (`select_on: val`).

The same trainer runs the ablations / baselines by configuration:
    weighting "uniform"       a = 1/n, bridges trained end to end (w/o MARL; uniform average)
    weighting "single-agent"  one agent reads s and outputs all n logits (REMIT-style)
    weighting "gate"          MARCO's actor network as a softmax gate trained with the bridges
                              by the rating loss's gradient, no RL (a diagnostic: what any
                              weighting of these inputs can reach when its signal is exact)
    agents "joint"            one bridge over the concatenated sources (combined PTUPCDR)
    one source, "uniform"     single-source PTUPCDR

`parity_config` switches on everything the released code does
(docs/marco.md#departures-of-the-released-code): 4 agents with
the target-self agent, one shared bridge, the concatenated sequence (maxlen 300, id-0 masking),
the argmax global state, the degenerate size-1 Categorical (zero PPO gradient), GAE over the
mini-batch pseudo-trajectory (gamma = lambda = 0.99), one Adam step per mini-batch, the all-ones
initial action phase, the 1-epoch hard-argmax warm-up and the release's actor sizes and lr.
The release's best-epoch-on-test is reported beside the validation choice (methods.py,
`best_on_test`), never as the main number; `select_on: test` restores the test-best epoch.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field
from torch import Tensor
from tqdm.auto import tqdm

from rlrec.config import Config
from rlrec.crossdomain.bridge import BridgeConfig, Bridges
from rlrec.crossdomain.domains import Ratings
from rlrec.crossdomain.evaluate import rating_metrics
from rlrec.crossdomain.inputs import AgentInputs
from rlrec.crossdomain.mappo import (
    Actor,
    MappoConfig,
    PPOWeighting,
    Rollout,
    global_state,
    joint_entropy,
    observations,
)
from rlrec.seeding import torch_rng

__all__ = ["Marco", "MarcoConfig", "parity_config"]


class MarcoConfig(Config):
    """MARCO and the variants that share its trainer."""

    weighting: Literal["mappo", "single-agent", "uniform", "gate"] = Field(
        "mappo", description="how the domains' bridged embeddings are weighted"
    )
    agents: Literal["per-domain", "joint", "parity"] = Field(
        "per-domain", description="bridge inputs (inputs.py): per domain, joint, or the release's"
    )
    target_self: bool = Field(False, description="parity agents: add the target-self agent")
    parity_seq_len: int = Field(300, ge=1, description="parity agents: concatenated maxlen")
    warmup_epochs: int = Field(2, ge=0, description="bridge epochs before the policy starts")
    warmup: Literal["uniform", "argmax"] = Field(
        "uniform", description="warm-up weights: 1/n, or the release's hard argmax"
    )
    initial_policy: bool = Field(False, description="the release's all-ones initial-action phase")
    bridge_weights: Literal["sampled", "mean"] = Field(
        "sampled",
        description="bridge-phase weights: joint actions sampled from the fixed "
        "policy, or its mean softmax(mu) (the release)",
    )
    epochs: int = Field(10, ge=1, description="alternating bridge / policy epochs")
    batch_size: int = Field(128, ge=2, description="ratings per bridge step / collection batch")
    policy_batch: int | None = Field(
        None,
        ge=2,
        description="training ratings per policy collection + PPO update (None: the whole "
        "epoch, one update per epoch as in the paper)",
    )
    select_on: Literal["val", "test"] = Field(
        "val", description="epoch selection split (test: the release's habit, parity only)"
    )
    bridge: BridgeConfig = Field(default_factory=BridgeConfig, description="bridges")
    mappo: MappoConfig = Field(default_factory=MappoConfig, description="weighting policy")


def parity_config(cfg: MarcoConfig) -> MarcoConfig:
    """`cfg` with every setting of the released code (see module doc)."""
    data = cfg.model_dump()
    data.update(
        weighting="mappo",
        agents="parity",
        target_self=True,
        warmup_epochs=1,
        warmup="argmax",
        initial_policy=True,
        epochs=5,
        bridge_weights="mean",
    )
    data["bridge"].update(shared=True, lr=1e-2, weight_decay=1e-4)  # the release's Adam
    data["mappo"].update(
        policy="degenerate",
        advantage="gae-batch",
        global_state="argmax",
        agent_id=False,
        hidden=10,
        lr=1e-2,
        max_grad_norm=None,
        ppo_epochs=1,
        mean_action_baseline=False,
    )
    return MarcoConfig.model_validate(data)


def _batches(n: int, size: int, gen: torch.Generator, shuffle: bool = True):
    order = torch.randperm(n, generator=gen) if shuffle else torch.arange(n)
    for start in range(0, n, size):
        yield order[start : start + size]


class Marco:
    """Bridges + weighting policy over `inputs`; `fit(train, val, test)`, `predict`, `weights`."""

    def __init__(self, cfg: MarcoConfig, inputs: AgentInputs, seed: int) -> None:
        self.cfg, self.inputs = cfg, inputs
        self.gen = torch.Generator().manual_seed(seed)
        n, k = inputs.n_agents, inputs.target_item.shape[1]
        with torch_rng(seed):
            self.bridges = Bridges(
                n, k, inputs.user.shape[-1], k, cfg.bridge.meta_dim, cfg.bridge.shared
            )
        self.gate = None  # weighting "gate": the actor network trained by the rating loss
        if cfg.weighting == "gate" and n > 1:
            with torch_rng(seed + 1):
                obs_dim = 2 * k + 1 + (n if cfg.mappo.agent_id else 0)
                self.gate = Actor(obs_dim, k + n * k + n, n, cfg.mappo.hidden, False, 0.0)
        params = [*self.bridges.parameters(), *(self.gate.parameters() if self.gate else [])]
        self.opt = torch.optim.Adam(params, lr=cfg.bridge.lr, weight_decay=cfg.bridge.weight_decay)
        self.policy = (
            None
            if cfg.weighting in ("uniform", "gate") or n == 1
            else PPOWeighting(cfg.mappo, n, k, cfg.weighting == "single-agent", self.gen)
        )
        self.history_: list[dict[str, Any]] = []

    # ---- forward pieces -----------------------------------------------------------------

    def embed(self, users: Tensor, items: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(e [B, n, k], v [B, k], c [B]): bridged embeddings, target item vectors and the
        target item offsets (mu + b_j of a biased target MF, else 0)."""
        u, seqs, mask, v = self.inputs.gather(users, items)
        return self.bridges(u, self.inputs.table, seqs, mask), v, self.inputs.target_offset[items]

    @staticmethod
    def combine(e: Tensor, v: Tensor, c: Tensor, w: Tensor) -> Tensor:
        """y_hat = <sum_d w_d e^d, v> + c: [B, n, k], [B, k], [B], [B, n] -> [B]."""
        return ((w.unsqueeze(-1) * e).sum(1) * v).sum(-1) + c

    def _weights(self, e: Tensor, v: Tensor, mode: str) -> Tensor:
        b, n = e.shape[:2]
        if self.gate is not None and mode != "uniform":
            obs = observations(v, e.detach(), self.cfg.mappo.agent_id)
            return torch.softmax(self.gate(obs, global_state(v, e.detach(), "centralised")), -1)
        if mode == "uniform" or self.policy is None:
            return torch.full((b, n), 1.0 / n)
        if mode == "argmax":  # the release's warm-up: the best-scoring agent alone
            return torch.nn.functional.one_hot((e * v.unsqueeze(1)).sum(-1).argmax(-1), n).float()
        if mode == "sampled":
            return torch.softmax(self.policy.act(v, e.detach(), self.gen)[2], -1)
        return self.policy.weights(v, e.detach())

    # ---- training -----------------------------------------------------------------------

    @property
    def bridge_mode(self) -> str:
        """The weights of the bridge phase after the warm-up."""
        return "sampled" if self.cfg.bridge_weights == "sampled" else "policy"

    def bridge_epoch(self, data: Ratings, mode: str) -> float:
        """One epoch of rating MSE on the bridges with weights from `mode` (policy fixed)."""
        users, items = torch.as_tensor(data.user), torch.as_tensor(data.item)
        y = torch.tensor(data.rating, dtype=torch.float32)
        total = 0.0
        for idx in _batches(len(y), self.cfg.batch_size, self.gen):
            e, v, c = self.embed(users[idx], items[idx])
            loss = (self.combine(e, v, c, self._weights(e, v, mode)) - y[idx]).pow(2).mean()
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            total += loss.item() * len(idx)
        return total / len(y)

    @torch.no_grad()
    def collect(self, data: Ratings, all_ones: bool = False) -> Rollout:
        """One joint action per training rating (bridges fixed), reward -(y_hat - y)^2."""
        assert self.policy is not None
        users, items = torch.as_tensor(data.user), torch.as_tensor(data.item)
        y = torch.tensor(data.rating, dtype=torch.float32)
        parts: dict[str, list[Tensor]] = {k: [] for k in ("obs", "state", "z", "lp", "v", "r")}
        chunks, start = [], 0
        for idx in _batches(len(y), self.cfg.batch_size, self.gen):
            e, v, c = self.embed(users[idx], items[idx])
            obs, state, z, lp, val = self.policy.act(v, e, self.gen)
            w = torch.ones_like(z) if all_ones else torch.softmax(z, -1)
            r = -(self.combine(e, v, c, w) - y[idx]).pow(2)
            if self.cfg.mappo.mean_action_baseline:
                r = r + (self.combine(e, v, c, self.policy.weights(v, e)) - y[idx]).pow(2)
            for key, t in zip(parts, (obs, state, z, lp, val, r), strict=True):
                parts[key].append(t)
            chunks.append((start, start + len(idx)))
            start += len(idx)
        cat = {k: torch.cat(v) for k, v in parts.items()}
        return Rollout(cat["obs"], cat["state"], cat["z"], cat["lp"], cat["v"], cat["r"], chunks)

    def policy_epoch(self, train: Ratings) -> dict[str, float]:
        """Collect and update once per `policy_batch` training ratings (the whole epoch at
        once by default, as in the paper); metrics of the last update, mean reward."""
        size = self.cfg.policy_batch or len(train)
        order = torch.randperm(len(train), generator=self.gen).numpy()
        rewards, out = [], {}
        for start in range(0, len(train), size):
            ro = self.collect(train.take(order[start : start + size]))
            rewards.append(ro.reward)
            out = self.policy.update(ro, self.gen)
        out["train/policy_reward"] = torch.cat(rewards).mean().item()  # minus baseline if on
        return out

    def fit(
        self,
        train: Ratings,
        val: Ratings,
        test: Ratings | None = None,
        rating_range: tuple[float, float] = (1.0, 5.0),
    ) -> Marco:
        """Warm-up, then alternate bridge and policy epochs; keep the `select_on` best epoch."""
        cfg = self.cfg
        best: tuple[float, Any] = (float("inf"), None)
        bar = tqdm(
            range(1, cfg.warmup_epochs + cfg.epochs + 1),
            desc=f"{cfg.weighting} fit",
            unit="epoch",
            leave=False,
            disable=None,  # on a terminal only
        )
        for epoch in bar:
            warm = epoch <= cfg.warmup_epochs
            record: dict[str, Any] = {"epoch": epoch, "warmup": warm}
            if warm:
                record["train/mse"] = self.bridge_epoch(train, cfg.warmup)
            else:
                if (
                    self.policy is not None
                    and cfg.initial_policy
                    and epoch == cfg.warmup_epochs + 1
                ):
                    record.update(
                        {
                            f"init/{k}": v
                            for k, v in self.policy.update(
                                self.collect(train, all_ones=True), self.gen
                            ).items()
                        }
                    )
                record["train/mse"] = self.bridge_epoch(train, self.bridge_mode)
                if self.policy is not None:
                    record.update(self.policy_epoch(train))
            for name, data in (("val", val), ("test", test)):
                if data is not None and len(data):
                    m = rating_metrics(
                        self.predict(data.user, data.item), data.rating, rating_range
                    )
                    record.update({f"{name}/{k}": v for k, v in m.items()})
            self.history_.append(record)
            if "val/mae" in record:
                bar.set_postfix_str(f"val MAE {record['val/mae']:.4f}")
            candidate = not warm or self.policy is None
            score = record.get(f"{cfg.select_on}/mae", float("nan"))
            if candidate and (best[1] is None or score < best[0]):
                best = (score, copy.deepcopy(self.state_dict()))
        if best[1] is not None:
            self.load_state_dict(best[1])
        self.best_epoch_ = next(
            (r["epoch"] for r in self.history_ if r.get(f"{cfg.select_on}/mae") == best[0]), None
        )
        return self

    # ---- inference ----------------------------------------------------------------------

    @torch.no_grad()
    def predict_with_weights(
        self, users: np.ndarray, items: np.ndarray, batch: int = 4096
    ) -> tuple[np.ndarray, np.ndarray]:
        """(y_hat [N], weights [N, n]) with deterministic weights."""
        preds, weights = [], []
        u_all, i_all = torch.as_tensor(users), torch.as_tensor(items)
        for start in range(0, len(u_all), batch):
            e, v, c = self.embed(u_all[start : start + batch], i_all[start : start + batch])
            w = self._weights(e, v, "policy")
            preds.append(self.combine(e, v, c, w))
            weights.append(w)
        if not preds:
            return np.zeros(0, np.float32), np.zeros((0, self.inputs.n_agents), np.float32)
        return torch.cat(preds).numpy(), torch.cat(weights).numpy()

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.predict_with_weights(users, items)[0]

    def weight_summary(self, users: np.ndarray, items: np.ndarray) -> dict[str, Any]:
        """Mean weight per agent and mean entropy of the joint weights on (users, items)."""
        _, w = self.predict_with_weights(users, items)
        ent = joint_entropy(torch.as_tensor(w)).mean().item() if len(w) else float("nan")
        return {
            "mean_weight": dict(zip(self.inputs.names, w.mean(0).tolist(), strict=True)),
            "entropy": ent,
            "max_entropy": float(np.log(w.shape[1])),
        }

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"bridges": self.bridges.state_dict()}
        if self.policy is not None:
            state["policy"] = self.policy.state_dict()
        if self.gate is not None:
            state["gate"] = self.gate.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.bridges.load_state_dict(state["bridges"])
        if self.policy is not None:
            self.policy.load_state_dict(state["policy"])
        if self.gate is not None:
            self.gate.load_state_dict(state["gate"])
