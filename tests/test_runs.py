import json

import pytest
import yaml

from rlrec.atomic import write_text
from rlrec.errors import ConfigError
from rlrec.experiment import ExperimentConfig
from rlrec.runs import create_run


def _run(tmp_path, **overrides):
    cfg = ExperimentConfig(name="r", runs_dir=tmp_path, **overrides)
    return create_run(cfg.runs_dir, cfg.name, cfg, seed=cfg.seed), cfg


def test_run_directory_has_config_and_manifest(tmp_path):
    run, cfg = _run(tmp_path, seed=3)
    assert yaml.safe_load((run.dir / "config.yaml").read_text())["seed"] == 3
    manifest = json.loads((run.dir / "manifest.json").read_text())
    assert manifest["seed"] == 3
    assert manifest["config"] == cfg.model_dump(mode="json")
    assert manifest["versions"]["torch"] and manifest["versions"]["numpy"]
    assert "git" in manifest  # a dict with the commit inside a checkout, else null


def _do_stage(run, params, input_file):
    stage = run.stage("work", params=params, inputs={"src": input_file})
    if stage.cached:
        return stage, False
    out = write_text(stage.path("out.txt"), input_file.read_text().upper())
    stage.complete([out])
    return stage, True


def test_stage_skips_when_output_complete_for_same_inputs(tmp_path, caplog):
    run, _ = _run(tmp_path)
    src = tmp_path / "in.txt"
    src.write_text("abc")
    assert _do_stage(run, {"k": 1}, src)[1] is True
    caplog.set_level("INFO", logger="rlrec")
    assert _do_stage(run, {"k": 1}, src)[1] is False
    assert "cache hit" in caplog.text
    record = run.outputs("work")
    assert record["inputs"]["src"] == run.stage("work", {"k": 1}, {"src": src}).inputs["src"]
    assert list(record["outputs"]) == ["work/out.txt"]


def test_stage_reruns_when_params_inputs_or_outputs_change(tmp_path):
    run, _ = _run(tmp_path)
    src = tmp_path / "in.txt"
    src.write_text("abc")
    _do_stage(run, {"k": 1}, src)
    assert _do_stage(run, {"k": 2}, src)[1] is True  # new parameters
    src.write_text("abd")
    assert _do_stage(run, {"k": 2}, src)[1] is True  # new input content
    (run.dir / "work" / "out.txt").unlink()
    assert _do_stage(run, {"k": 2}, src)[1] is True  # output gone
    assert (run.dir / "work" / "out.txt").read_text() == "ABD"


def test_interrupted_stage_is_redone_and_reopened_run_keeps_finished_stages(tmp_path):
    run, _ = _run(tmp_path)
    src = tmp_path / "in.txt"
    src.write_text("abc")
    _do_stage(run, {"k": 1}, src)
    # a redo with other params starts, then dies before complete(): the old record is dropped
    stage = run.stage("work", params={"k": 2}, inputs={"src": src})
    assert not stage.cached
    write_text(stage.path("out.txt"), "partial")
    assert "work" not in run.manifest()["stages"]
    assert _do_stage(run, {"k": 1}, src)[1] is True  # not mistaken for the k=1 result

    reopened, _ = _run(tmp_path)  # a new process opening the same run directory
    assert _do_stage(reopened, {"k": 1}, src)[1] is False


def test_a_changed_output_is_not_a_cache_hit(tmp_path, caplog):
    """A finished stage whose output was corrupted after the fact is computed again."""
    run, _ = _run(tmp_path)
    src = tmp_path / "in.txt"
    src.write_text("abc")
    _do_stage(run, {"k": 1}, src)
    out = run.dir / "work" / "out.txt"
    out.write_text("ABX")  # same size, other bytes
    caplog.set_level("WARNING", logger="rlrec")
    assert _do_stage(run, {"k": 1}, src)[1] is True
    assert "missing or changed" in caplog.text
    assert out.read_text() == "ABC"
    assert _do_stage(run, {"k": 1}, src)[1] is False  # repaired: a hit again


def test_temporaries_of_a_killed_write_are_removed_on_the_next_start(tmp_path):
    import os
    import subprocess
    import sys

    run, cfg = _run(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    pid = int(dead.stdout)  # a process that has exited
    stale = run.dir / "train" / f".policy.pt.{pid}.abcd1234.tmp"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"")
    legacy = run.dir / ".manifest.json.k2j3h4.tmp"  # no pid: written by an older rlrec
    legacy.write_bytes(b"{")
    live = run.dir / f".summary.json.{os.getpid()}.zzzz9999.tmp"  # this process: still writing
    live.write_bytes(b"")
    create_run(cfg.runs_dir, cfg.name, cfg, seed=cfg.seed)
    assert not stale.exists() and not legacy.exists() and live.exists()


@pytest.mark.parametrize("name", ["../../x", "..", ".", "a/b", "/abs", "", " r", "a\\b"])
def test_run_names_stay_inside_the_runs_directory(tmp_path, name):
    cfg = ExperimentConfig(runs_dir=tmp_path / "runs")
    with pytest.raises(ConfigError, match="plain folder name"):
        create_run(cfg.runs_dir, name, cfg, seed=0)
    assert not (tmp_path / "x").exists()


def test_a_damaged_manifest_means_computing_again_not_a_traceback(tmp_path, caplog):
    run, cfg = _run(tmp_path)
    src = tmp_path / "in.txt"
    src.write_text("abc")
    _do_stage(run, {"k": 1}, src)
    run.manifest_path.write_bytes(b'{"stages": {"work": ')  # cut mid-write by hand
    caplog.set_level("WARNING", logger="rlrec")
    run = create_run(cfg.runs_dir, cfg.name, cfg, seed=cfg.seed)
    assert "is damaged" in caplog.text
    assert _do_stage(run, {"k": 1}, src)[1] is True
    assert _do_stage(run, {"k": 1}, src)[1] is False
