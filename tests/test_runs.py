import json

import yaml

from rlrec.atomic import write_text
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
