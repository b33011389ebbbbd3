"""The command line as a user meets it: real subprocesses, exit codes, messages."""

import json
import subprocess
import sys

import pytest


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
