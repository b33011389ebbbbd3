"""The IL-Rec commands end to end on synthetic data: train, evaluate, baselines, the experiment
table with curves, cached reruns, and the errors a user can cause."""

import json

import numpy as np

from rlrec.interactive.demos.store import DemoStore
from rlrec.interactive.experience.offline_data import scripted_demos
from rlrec.interactive.world.worldmodel import WorldModel
from tests.test_cli import assert_user_error, rlrec

COMMON = (
    "data.name=synthetic-interactive", "name=sim", "data.synthetic.n_users=80",
    "data.synthetic.n_items=60", "worldmodel.model=mf", "worldmodel.epochs=3",
    "worldmodel.n_ensemble=2", "evaluation.n_users=10", "evaluation.seeds=[0,1]",
    "ilrec.train_episodes=128", "ilrec.episodes_per_iteration=32", "study.offline_updates=20",
    "study.seeds=[0,1]", "study.checkpoint_every=64", "study.llm_expert=none",
    "study.methods=[il-rec,bc,a2c,dorl,sqn]", "study.ablations=[w/o w]",
    "study.heuristics=[random]",
)  # fmt: skip


def write_expert_demos(run_dir, n_users=12):
    """A scripted expert's episodes, in the store `rlrec demos generate` would write."""
    world = WorldModel.load(run_dir / "worldmodel")
    t = scripted_demos(world, np.arange(n_users))
    header = {"backend": "scripted", "model": "best-item", "params": {"window": 4}}
    path = run_dir / "demos" / "billp-choice.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with DemoStore.open(path, header) as store:
        for ep in np.unique(t.episodes):
            at = np.flatnonzero(t.episodes == ep)
            store.begin_episode(int(t.users[at[0]]))
            for i in at:
                pairs = zip(t.window_items[i], t.window_rewards[i], strict=True)
                window = [[int(a), float(r)] for a, r in pairs if a >= 0]
                step = {"item": int(t.actions[i]), "reward": float(t.rewards[i])}
                store.add_step({**step, "done": bool(t.done[i]), "window": window})
            store.end_episode()
    return path


def test_ilrec_commands_and_the_experiment_table(tmp_path):
    common = (*COMMON, f"runs_dir={tmp_path}")
    run_dir = tmp_path / "sim"
    assert rlrec("worldmodel", "train", *common).returncode == 0
    assert_user_error(rlrec("ilrec", "train", *common), "no demonstrations", "demos generate")
    assert_user_error(rlrec("ilrec", "evaluate", *common), "no trained il-rec", "ilrec train")
    write_expert_demos(run_dir)

    done = rlrec("ilrec", "train", *common)
    assert done.returncode == 0, done.stderr
    assert "il-rec: 128 episodes" in done.stdout and "R_traj" in done.stdout
    assert (run_dir / "train" / "il-rec" / "seed0" / "policy.pt").is_file()
    done = rlrec("ilrec", "evaluate", *common)
    assert done.returncode == 0, done.stderr
    assert "seeds [0, 1]" in done.stdout

    done = rlrec("baselines", "train", "--algo", "bc", *common)
    assert done.returncode == 0, done.stderr
    assert "bc: 20 updates" in done.stdout
    assert_user_error(rlrec("baselines", "train", "--algo", "psychic", *common), "psychic", "dqn")

    done = rlrec("experiment", "ilrec", *common)
    assert done.returncode == 0, done.stderr
    assert "stage train/il-rec/seed0: cache hit" in done.stderr  # trained above
    rows = json.loads((run_dir / "results" / "results.json").read_text())
    methods = [r["method"] for r in rows]
    assert methods == ["il-rec", "bc", "a2c", "dorl", "sqn", "il-rec w/o w", "random"]
    assert all(len(r["per_seed"]["R_traj"]) == 2 for r in rows)
    table = (run_dir / "results" / "results.md").read_text()
    assert "| il-rec w/o w |" in table and "no model selection" in table
    # every learner and heuristic also in the no-repeat mode, beside the configured free mode
    assert "R_traj [no-repeat]" in table and "columns `[no-repeat]`" in table
    assert all(len(r["per_seed"]["R_traj [no-repeat]"]) == 2 for r in rows)
    assert (run_dir / "results" / "curves_return.png").stat().st_size > 1000
    again = rlrec("experiment", "ilrec", *common)
    assert again.returncode == 0 and "Traceback" not in again.stderr
    assert again.stderr.count("cache hit") >= 12  # every method x seed reused
    rerun = json.loads((run_dir / "results" / "results.json").read_text())
    assert [r["R_traj"] for r in rerun[:-1]] == [r["R_traj"] for r in rows[:-1]]

    done = rlrec("report", str(run_dir))
    assert done.returncode == 0, done.stderr
    report = (run_dir / "report.md").read_text()
    assert "## IL-Rec" in report and "| il-rec w/o w |" in report and "## What was run" in report
    assert "R_traj [no-repeat]" in report
    for figure in json.loads((run_dir / "results.json").read_text())["figures"].values():
        assert (run_dir / figure).stat().st_size > 1000 and f"]({figure})" in report
    done = rlrec("compare", str(run_dir), str(run_dir))
    assert done.returncode == 0 and "R_traj (sim)" in done.stdout
    assert_user_error(rlrec("report", str(tmp_path / "nope")), "not a run directory")


def test_study_errors_come_before_training(tmp_path):
    common = (*COMMON, f"runs_dir={tmp_path}", "worldmodel.n_ensemble=1")
    assert rlrec("worldmodel", "train", *common).returncode == 0
    write_expert_demos(tmp_path / "sim")
    assert_user_error(rlrec("experiment", "ilrec", *common), "DORL needs an ensemble")
    assert not (tmp_path / "sim" / "train").exists()
    assert_user_error(
        rlrec("experiment", "ilrec", *common, "study.ablations=[w/o magic]"), "w/o magic"
    )
