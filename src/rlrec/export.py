"""A trained policy as one self-contained file: what serving and evaluation need, nothing else.

`rlrec export RUN_DIR --method M --seed S` writes `<run>/export/<method>-seed<S>.zip`, a zip
archive of three members:

    manifest.json    format and its version, the package versions that wrote it, where the
                     policy comes from (run, method, seed, data, checkpoint hash), the network
                     (class, construction arguments, scoring head), the policy's window and
                     limits, and the SHA-256 and size of the two other members
    weights.pt       the scoring network's state dict (`torch.load(weights_only=True)`)
    catalogue.json   raw item ids and titles by column, raw train-user ids by row

Reading it (`read_artefact`) needs neither the dataset, nor the world model, nor the
demonstrations: the network is rebuilt from its class and arguments (`NETWORKS`), the weights
are loaded strictly, and every member is checked against its hash first. Only the scoring
network of a learner travels (for IL-Rec its actor-critic network, state tracker included; not
the Q/V critic, the discriminator, the optimisers or the replay buffer).

Writing one (`artefact_from_run`) is the only step that rebuilds the learner from the run
directory, once; `write_artefact` replaces the destination atomically.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rlrec.atomic import atomic_path, sha256_file
from rlrec.errors import DataError
from rlrec.interactive.experience.batches import StateBatch
from rlrec.interactive.experience.rollout import TorchPolicy
from rlrec.interactive.learners.baselines.bcq import BCQ, constrained_q
from rlrec.interactive.learners.baselines.sqn import SQN
from rlrec.interactive.learners.inference import FastPolicy, FastScorer, fast_scores
from rlrec.interactive.learners.nets import ActorCritic, PolicyNetwork, QNetwork
from rlrec.interactive.learners.training import Learner
from rlrec.runs import package_versions

log = logging.getLogger("rlrec")

FORMAT = "rlrec-policy"
FORMAT_VERSION = 1
MANIFEST, WEIGHTS, CATALOGUE = "manifest.json", "weights.pt", "catalogue.json"
MAX_MEMBER_BYTES = 4 << 30  # refuse a member that would inflate beyond 4 GiB

ScoreFn = Callable[[StateBatch], torch.Tensor]


def _tracker_args(net: nn.Module) -> dict[str, Any]:
    t = net.tracker
    return {
        "n_users": t.n_users,
        "n_items": t.n_items,
        "dim": t.dim,
        "window": t.window,
        "user_dropout": t.user_dropout,
    }


# class name -> (class, its construction arguments read back from an instance)
NETWORKS: dict[str, tuple[type[nn.Module], Callable[[Any], dict[str, Any]]]] = {
    "ActorCritic": (ActorCritic, lambda n: {**_tracker_args(n), "logit_clamp": n.logit_clamp}),
    "PolicyNetwork": (PolicyNetwork, _tracker_args),
    "QNetwork": (QNetwork, lambda n: {**_tracker_args(n), "extra_head": n.extra is not None}),
}


# scoring head -> scores of a network with the head's arguments
def _scores(net: nn.Module, args: dict[str, Any]) -> ScoreFn:
    return net.scores


def _supervised(net: nn.Module, args: dict[str, Any]) -> ScoreFn:
    return lambda s: net(s)[1]  # SQN: the supervised head


def _bcq(net: nn.Module, args: dict[str, Any]) -> ScoreFn:
    return lambda s: constrained_q(*net(s), args["tau"])  # BCQ: Q over allowed(s)


HEADS: dict[str, Callable[[nn.Module, dict[str, Any]], ScoreFn]] = {
    "scores": _scores,
    "supervised": _supervised,
    "bcq": _bcq,
}


@dataclass
class Artefact:
    """An exported policy in memory: the scoring network and what surrounds it."""

    net: nn.Module
    head: str
    head_args: dict[str, Any]
    item_ids: list[Any]  # column -> raw item id (JSON-ready)
    titles: list[str]  # column -> title
    user_ids: list[Any]  # train row -> raw user id (JSON-ready)
    window: int
    max_history: int
    always_greedy: bool
    source: dict[str, Any]  # run, method, seed, data, policy name, checkpoint hash

    def scores(self) -> ScoreFn:
        return HEADS[self.head](self.net, self.head_args)

    def fast_scorer(self) -> FastScorer | None:
        """The network's scores on the NumPy inference path (`learners.inference`), or None
        where its head is not one linear layer over the tracker (BCQ)."""
        return fast_scores(self.net, self.head)

    def policy(self) -> TorchPolicy | FastPolicy:
        """The policy as an evaluation `Policy` (test users enter as `NEW_USER`): on the
        inference path where the network has one (the same actions), else the network's."""
        name = str(self.source.get("policy") or self.source.get("method") or "policy")
        scorer = self.fast_scorer()
        if scorer is not None:
            return FastPolicy(name, scorer, self.always_greedy)
        return TorchPolicy(name, self.scores(), self.always_greedy)


# ----------------------------------------------------------------------------- from a learner
def scoring_network(learner: Learner) -> tuple[nn.Module, str, dict[str, Any]]:
    """(network, head, head arguments) behind `learner.policy().scores`; DataError for a
    policy whose scores are not one of `HEADS` over one of `NETWORKS`."""
    scores = learner.policy().scores
    owner, name = getattr(scores, "__self__", None), getattr(scores, "__name__", "")
    if type(owner).__name__ in NETWORKS and name == "scores":
        return owner, "scores", {}
    if isinstance(learner, BCQ) and name == "scores":
        return learner.net, "bcq", {"tau": float(learner.cfg.tau)}
    if isinstance(learner, SQN) and name == "supervised_scores":
        return learner.net, "supervised", {}
    raise DataError(f"{learner.name}: its policy has no exportable network")


def artefact_from_learner(
    learner: Learner,
    item_ids: list[Any],
    titles: list[str],
    user_ids: list[Any],
    window: int,
    max_history: int,
    source: dict[str, Any],
) -> Artefact:
    net, head, head_args = scoring_network(learner)
    policy = learner.policy()
    return Artefact(
        net=net,
        head=head,
        head_args=head_args,
        item_ids=item_ids,
        titles=titles,
        user_ids=user_ids,
        window=window,
        max_history=max_history,
        always_greedy=policy.always_greedy,
        source={**source, "policy": policy.name},
    )


def artefact_from_run(
    run_dir: str | Path, method: str = "il-rec", seed: int | None = None
) -> Artefact:
    """The trained `method` of a run directory (`train/<method>/seed<seed>/policy.pt`, default
    the run's seed) with the run's catalogue. Rebuilds the learner once, so it reads the run's
    dataset, world model and demonstrations (DataError naming the command to run when one is
    missing)."""
    from rlrec.config import load_config
    from rlrec.data import load_dataset
    from rlrec.experiment import ExperimentConfig
    from rlrec.interactive.study import policy_path, trained_learner
    from rlrec.interactive.world.worldmodel import WorldModel
    from rlrec.runs import Run

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise DataError(f"{run_dir} is not a run directory (no config.yaml)")
    cfg = load_config(ExperimentConfig, run_dir / "config.yaml", [])
    seed = cfg.seed if seed is None else seed
    world = WorldModel.load(run_dir / "worldmodel")
    learner = trained_learner(cfg, Run(run_dir), load_dataset(cfg.data), world, method, seed)
    source = {
        "run": run_dir.name,
        "method": method,
        "seed": seed,
        "data": cfg.data.name,
        "checkpoint_sha256": sha256_file(policy_path(Run(run_dir), method, seed)),
    }
    return artefact_from_learner(
        learner,
        item_ids=world.items["item_id"].tolist(),
        titles=world.items["title"].astype(str).tolist(),
        user_ids=np.asarray(world.users["train"]).tolist(),
        window=cfg.ilrec.window,
        max_history=cfg.evaluation.quit.max_turns,
        source=source,
    )


# ----------------------------------------------------------------------------- the file
def write_artefact(artefact: Artefact, dest: str | Path) -> Path:
    """Write `artefact` to the zip file `dest` (atomically); returns `dest`."""
    weights = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in artefact.net.state_dict().items()}, weights)
    members = {
        WEIGHTS: weights.getvalue(),
        CATALOGUE: _json_bytes(
            {"item_ids": artefact.item_ids, "titles": artefact.titles, "users": artefact.user_ids}
        ),
    }
    cls = type(artefact.net).__name__
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "versions": package_versions(),
        "source": artefact.source,
        "network": {
            "class": cls,
            "args": NETWORKS[cls][1](artefact.net),
            "head": artefact.head,
            "head_args": artefact.head_args,
        },
        "policy": {
            "window": artefact.window,
            "max_history": artefact.max_history,
            "always_greedy": artefact.always_greedy,
            "n_items": len(artefact.item_ids),
            "n_users": len(artefact.user_ids),
        },
        "files": {
            name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            for name, data in members.items()
        },
    }
    dest = Path(dest)
    with atomic_path(dest) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, _json_bytes(manifest))
        for name, data in members.items():
            zf.writestr(name, data)
    return dest


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, indent=1, ensure_ascii=False).encode("utf-8")


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of the artefact at `path` (DataError when it is not one rlrec can read)."""
    with _open_zip(path) as zf:
        return _manifest(zf, path)


def read_artefact(path: str | Path) -> Artefact:
    """Load an exported policy: checks the format, the members' hashes and the network's
    weights (strictly); touches no dataset, world model or demonstrations."""
    with _open_zip(path) as zf:
        manifest = _manifest(zf, path)
        members = {name: _member(zf, name, manifest, path) for name in (WEIGHTS, CATALOGUE)}
    spec, policy = manifest["network"], manifest["policy"]
    if spec.get("class") not in NETWORKS or spec.get("head") not in HEADS:
        raise DataError(
            f"{path}: unknown network {spec.get('class')!r} / head {spec.get('head')!r}"
        )
    catalogue = _load_json(members[CATALOGUE], path, CATALOGUE)
    try:
        state = torch.load(io.BytesIO(members[WEIGHTS]), map_location="cpu", weights_only=True)
        net = _network(NETWORKS[spec["class"]][0], spec["args"], state, path)
        item_ids, titles, users = catalogue["item_ids"], catalogue["titles"], catalogue["users"]
        artefact = Artefact(
            net=net.eval(),
            head=spec["head"],
            head_args=dict(spec.get("head_args", {})),
            item_ids=list(item_ids),
            titles=[str(t) for t in titles],
            user_ids=list(users),
            window=int(policy["window"]),
            max_history=int(policy["max_history"]),
            always_greedy=bool(policy["always_greedy"]),
            source=dict(manifest.get("source", {})),
        )
    except (KeyError, TypeError, ValueError, RuntimeError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"{path}: the policy does not load ({type(err).__name__}: {err})") from None
    if len(artefact.item_ids) != net.tracker.n_items or len(artefact.titles) != len(item_ids):
        raise DataError(f"{path}: the catalogue does not match the network's items")
    if len(artefact.user_ids) != net.tracker.n_users:
        raise DataError(f"{path}: the train users do not match the network's users")
    return artefact


def _network(
    cls: type[nn.Module], args: dict[str, Any], state: dict[str, Any], path: str | Path
) -> nn.Module:
    """`cls(**args)` with `state` loaded strictly. The shapes are compared on the meta device
    first (no memory), so construction arguments that disagree with the weights (an edited
    manifest asking for a billion items) are refused before anything is allocated."""
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in cls(**args).state_dict().items()}
    given = {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}
    if shapes != given or len(given) != len(state):
        raise DataError(f"{path}: the network's arguments do not match its weights")
    net = cls(**args)
    net.load_state_dict(state, strict=True)
    return net


def _open_zip(path: str | Path) -> zipfile.ZipFile:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no exported policy at {path}: write one with `rlrec export RUN_DIR`")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise DataError(f"{path} is not an exported policy (not a zip archive: {err})") from None


def _manifest(zf: zipfile.ZipFile, path: str | Path) -> dict[str, Any]:
    manifest = _load_json(_read(zf, MANIFEST, path), path, MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataError(f"{path} is not an exported rlrec policy (manifest format)")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise DataError(
            f"{path}: policy format version {version!r}; this rlrec reads up to {FORMAT_VERSION}"
        )
    for key in ("network", "policy", "files"):
        if not isinstance(manifest.get(key), dict):
            raise DataError(f"{path}: manifest without {key!r}")
    written = (manifest.get("versions") or {}).get("torch")
    if written and written != torch.__version__:
        log.warning("%s was written with torch %s (this is %s)", path, written, torch.__version__)
    return manifest


def _member(zf: zipfile.ZipFile, name: str, manifest: dict[str, Any], path: str | Path) -> bytes:
    data = _read(zf, name, path)
    expected = manifest["files"].get(name) or {}
    if hashlib.sha256(data).hexdigest() != expected.get("sha256"):
        raise DataError(f"{path}: {name} does not match its checksum (corrupted or edited)")
    return data


def _read(zf: zipfile.ZipFile, name: str, path: str | Path) -> bytes:
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise DataError(f"{path}: {name} is missing from the archive") from None
    if info.file_size > MAX_MEMBER_BYTES:
        raise DataError(f"{path}: {name} is too large ({info.file_size:,} bytes)")
    try:
        return zf.read(info)
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise DataError(f"{path}: {name} cannot be read ({err})") from None


def _load_json(data: bytes, path: str | Path, name: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: {name} is not valid JSON ({err})") from None


def default_path(run_dir: str | Path, method: str, seed: int) -> Path:
    """`<run>/export/<method>-seed<seed>.zip` (method names made file-safe)."""
    from rlrec.interactive.study import method_slug

    return Path(run_dir) / "export" / f"{method_slug(method)}-seed{seed}.zip"


__all__ = [
    "Artefact",
    "artefact_from_learner",
    "artefact_from_run",
    "default_path",
    "read_artefact",
    "read_manifest",
    "scoring_network",
    "write_artefact",
]
