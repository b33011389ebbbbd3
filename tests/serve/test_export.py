"""`rlrec export`: a trained policy as one file that serving and evaluation load alone.

The main check starts `rlrec serve FILE` as a process in a folder that holds nothing but the
exported file, with an empty `RLREC_HOME` (no dataset cache to read), and compares its answers
with the top-k computed directly from the trained learner of the run directory. The others:
every kind of learned policy survives the round trip with the same scores, evaluation of the
loaded file gives the same metrics, and a damaged or foreign file is one clear error.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import rlrec
from rlrec.cli import serve as serve_cli
from rlrec.errors import DataError
from rlrec.export import (
    FORMAT_VERSION,
    artefact_from_learner,
    read_artefact,
    read_manifest,
    write_artefact,
)
from rlrec.interactive.experience.batches import NEW_USER, state_batch

TOKEN = "export-test-token"
SERVE = "import sys; from rlrec.cli.main import main; sys.argv = ['rlrec', *sys.argv[1:]]; main()"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(port: int, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


@contextlib.contextmanager
def _serving(policy_file: Path, home: Path, log: Path):
    """`rlrec serve policy_file` as a process whose working folder is the file's own."""
    port = _free_port()
    src = str(Path(rlrec.__file__).resolve().parents[1])  # this checkout's rlrec
    env = {
        **os.environ,
        "RLREC_TOKEN": TOKEN,
        "RLREC_THREADS": "1",
        "RLREC_HOME": str(home),
        "PYTHONPATH": src,
    }
    args = [sys.executable, "-c", SERVE, "serve", policy_file.name, "--port", str(port)]
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            args, cwd=policy_file.parent, env=env, stdout=subprocess.DEVNULL, stderr=err
        )
    try:
        for _ in range(900):  # importing torch and FastAPI takes a few seconds
            if proc.poll() is not None:
                pytest.fail(f"rlrec serve exited: {log.read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                if _call(port, "/healthz") == {"status": "ok"}:
                    break
            time.sleep(0.2)
        else:
            pytest.fail(f"rlrec serve did not answer: {log.read_text()[-2000:]}")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _trained(run_dir: Path, method: str = "il-rec", seed: int = 0):
    """(learner, world) rebuilt from the run directory the way training left them."""
    from rlrec.config import load_config
    from rlrec.data import load_dataset
    from rlrec.experiment import ExperimentConfig
    from rlrec.interactive.study import trained_learner
    from rlrec.interactive.world.worldmodel import WorldModel
    from rlrec.runs import Run

    cfg = load_config(ExperimentConfig, run_dir / "config.yaml", [])
    world = WorldModel.load(run_dir / "worldmodel")
    learner = trained_learner(cfg, Run(run_dir), load_dataset(cfg.data), world, method, seed)
    return learner, world, cfg


def _direct_top_k(learner, user: int, items: list[int], rewards: list[float], k: int, window: int):
    """Top-k item columns and scores straight from the learner's network."""
    w_items = np.full((1, window), -1, np.int64)
    w_rewards = np.zeros((1, window), np.float32)
    n = min(len(items), window)
    if n:
        w_items[0, window - n :] = items[-n:]
        w_rewards[0, window - n :] = rewards[-n:]
    with torch.no_grad():
        scores = learner.policy().scores(state_batch(np.array([user]), w_items, w_rewards))[0]
    scores = scores.double().numpy()
    scores[items] = -np.inf
    top = np.argsort(-scores, kind="stable")[:k]
    return top.tolist(), scores[top].tolist()


@pytest.fixture(scope="module")
def exported(run_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "il-rec.zip"
    assert serve_cli.export(run_dir, "il-rec", 0, out=out) == out
    return out


def test_export_writes_one_checked_file(exported, run_dir):
    manifest = read_manifest(exported)
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["source"]["method"] == "il-rec" and manifest["source"]["seed"] == 0
    assert manifest["network"]["class"] == "ActorCritic" and manifest["network"]["head"] == "scores"
    assert {"rlrec", "torch", "numpy", "python"} <= set(manifest["versions"])
    with zipfile.ZipFile(exported) as zf:
        assert sorted(zf.namelist()) == ["catalogue.json", "manifest.json", "weights.pt"]
        state = torch.load(
            zipfile.Path(zf, "weights.pt").open("rb"), map_location="cpu", weights_only=True
        )
    # the actor-critic network alone: no Q/V critic, discriminator, optimiser or replay buffer
    assert {key.split(".")[0] for key in state} == {"tracker", "actor", "critic"}
    default = serve_cli.export(run_dir, "il-rec", 0)  # the default place, inside the run
    assert default == run_dir / "export" / "il-rec-seed0.zip"
    assert read_manifest(default)["files"] == manifest["files"]  # same weights, same catalogue


def test_rlrec_serve_on_the_file_alone_answers_like_the_trained_learner(
    exported, run_dir, tmp_path
):
    alone, home = tmp_path / "alone", tmp_path / "home"
    alone.mkdir()
    home.mkdir()
    policy_file = Path(shutil.copy(exported, alone / "policy.zip"))
    learner, world, cfg = _trained(run_dir)
    window = cfg.ilrec.window
    users = np.asarray(world.users["train"]).tolist()
    item_ids = world.items["item_id"].tolist()
    rng = np.random.default_rng(0)
    queries = [(None, [], []), (3, [], [])]
    for row in (0, 5, 11):
        items = rng.choice(len(item_ids), size=row % 6 + 1, replace=False).tolist()
        queries.append((row, items, rng.uniform(0, 5, len(items)).round(2).tolist()))
    queries.append((None, queries[-1][1], queries[-1][2]))  # a history without a user

    with _serving(policy_file, home, tmp_path / "serve.log") as port:
        meta = _call(port, "/metadata")
        answers = []
        for row, items, rewards in queries:
            body = {
                "user_id": None if row is None else users[row],
                "history": [
                    {"item_id": item_ids[c], "reward": r}
                    for c, r in zip(items, rewards, strict=True)
                ],
                "k": 7,
            }
            answers.append(_call(port, "/recommend", body))

    assert (meta["method"], meta["seed"], meta["n_items"]) == ("il-rec", 0, len(item_ids))
    for (row, items, rewards), answer in zip(queries, answers, strict=True):
        user = NEW_USER if row is None else row
        top, scores = _direct_top_k(learner, user, items, rewards, 7, window)
        assert [r["item_id"] for r in answer["items"]] == [item_ids[c] for c in top]
        np.testing.assert_allclose([r["score"] for r in answer["items"]], scores, rtol=1e-5)
    assert [p.name for p in alone.iterdir()] == ["policy.zip"]  # the service wrote nothing
    assert not any(home.iterdir())  # and read no dataset cache


def test_evaluation_of_the_file_matches_the_learner(exported, run_dir):
    from rlrec.interactive.evaluate import EvaluationConfig, evaluate_policy

    learner, world, cfg = _trained(run_dir)
    ev = EvaluationConfig(n_users=10, seeds=[0, 1], quit=cfg.evaluation.quit)
    loaded = read_artefact(exported).policy()
    assert evaluate_policy(loaded, world, ev) == evaluate_policy(learner.policy(), world, ev)


def test_rlrec_ilrec_evaluate_reads_the_file(exported, run_dir, tmp_path):
    from typer.testing import CliRunner

    from rlrec.cli.main import app

    args = ["ilrec", "evaluate", "-c", str(run_dir / "config.yaml")]
    from_run = CliRunner().invoke(app, args)
    from_file = CliRunner().invoke(app, [*args, "--policy", str(exported)])
    assert from_run.exit_code == 0 and from_file.exit_code == 0, from_file.output
    assert "R_traj" in from_file.stdout
    assert from_file.stdout == from_run.stdout  # same method name, same numbers
    damaged = _rewrite(exported, tmp_path / "bad.zip", _flip_weights)
    refused = CliRunner().invoke(app, [*args, "--policy", str(damaged)])
    assert isinstance(refused.exception, DataError) and "checksum" in str(refused.exception)


@pytest.mark.parametrize(
    "method", ["il-rec", "bc", "dqn", "sqn", "bcq", "cql", "crr", "a2c", "dorl"]
)
def test_every_learned_policy_survives_the_round_trip(method, tmp_path):
    """Untrained (seeded) learners: what is checked is that the file rebuilds each kind of
    scoring network (actor-critic, policy head, Q head, SQN's supervised head, BCQ's
    constrained Q) with exactly its scores."""
    from rlrec.interactive.learners.baselines import BaselinesConfig, make_baseline
    from rlrec.interactive.learners.ilrec import ILRec, ILRecConfig
    from tests.interactive.learners.baselines.test_baselines import (
        behaviour_episodes,
        preference_world,
    )

    world = preference_world(n_users=12, n_items=30)
    data = behaviour_episodes(world, episodes=20)
    if method == "il-rec":
        learner = ILRec(world, ILRecConfig(train_episodes=8), 0, data)
    else:
        learner = make_baseline(method, world, BaselinesConfig(), 0, data, data)
    artefact = artefact_from_learner(
        learner,
        item_ids=list(range(world.n_items)),
        titles=[f"item {i}" for i in range(world.n_items)],
        user_ids=list(range(12)),
        window=4,
        max_history=20,
        source={"method": method, "seed": 0},
    )
    path = write_artefact(artefact, tmp_path / f"{method}.zip")
    loaded = read_artefact(path)
    rng = np.random.default_rng(1)
    s = state_batch(
        rng.integers(-1, 12, 16),
        np.where(rng.random((16, 4)) < 0.3, -1, rng.integers(0, 30, (16, 4))),
        rng.uniform(0, 5, (16, 4)).astype(np.float32),
    )
    with torch.no_grad():
        assert torch.equal(loaded.scores()(s), learner.policy().scores(s))
    assert loaded.always_greedy == learner.policy().always_greedy


def _rewrite(src: Path, dest: Path, change) -> Path:
    with zipfile.ZipFile(src) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    change(members)
    with zipfile.ZipFile(dest, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return dest


def _flip_weights(m):
    data = bytearray(m["weights.pt"])
    data[len(data) // 2] ^= 0xFF
    m["weights.pt"] = bytes(data)


def _future(m):
    manifest = json.loads(m["manifest.json"])
    m["manifest.json"] = json.dumps({**manifest, "format_version": FORMAT_VERSION + 1}).encode()


def _huge(m):
    manifest = json.loads(m["manifest.json"])
    manifest["network"]["args"]["n_items"] = 10**9
    m["manifest.json"] = json.dumps(manifest).encode()


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (_flip_weights, "weights.pt does not match its checksum"),
        (_huge, "arguments do not match its weights"),
        (lambda m: m.pop("catalogue.json"), "catalogue.json is missing"),
        (_future, "policy format version"),
        (lambda m: m.update({"manifest.json": b"{not json"}), "manifest.json is not valid JSON"),
    ],
)
def test_a_damaged_file_is_one_clear_error(exported, tmp_path, change, fragment):
    bad = _rewrite(exported, tmp_path / "bad.zip", change)
    with pytest.raises(DataError, match=fragment):
        read_artefact(bad)


def test_a_foreign_or_missing_file_is_one_clear_error_with_exit_status_2(tmp_path):
    foreign = tmp_path / "notes.zip"
    foreign.write_text("not a zip")
    with pytest.raises(DataError, match="not an exported policy"):
        read_artefact(foreign)
    with pytest.raises(DataError, match="no exported policy"):
        read_artefact(tmp_path / "missing.zip")
    done = subprocess.run(
        [sys.executable, "-c", SERVE, "serve", str(foreign)],
        capture_output=True,
        text=True,
        env={**os.environ, "RLREC_TOKEN": TOKEN, "RLREC_THREADS": "1"},
        timeout=300,
    )
    assert done.returncode == 2
    assert "not an exported policy" in done.stderr and "Traceback" not in done.stderr
