"""The serving and scale-out commands as the CLI registers them (typer), on the trained run."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from rlrec.cli import bench, demos, serve, sweep
from rlrec.errors import ConfigError


def app() -> typer.Typer:
    cli = typer.Typer()
    for module, name in ((serve, "serve"), (bench, "bench_serve"), (sweep, "sweep"),
                         (demos, "demos_generate_ray")):  # fmt: skip
        cli.command(name.replace("_", "-"))(getattr(module, name))
    return cli


def test_every_command_has_help():
    for command in ("serve", "bench-serve", "sweep", "demos-generate-ray"):
        done = CliRunner().invoke(app(), [command, "--help"])
        assert done.exit_code == 0 and "Usage" in done.output


def test_serve_needs_the_token_and_a_trained_policy(run_dir, monkeypatch):
    monkeypatch.delenv("RLREC_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="RLREC_TOKEN"):
        serve.serve(run_dir)
    monkeypatch.setenv("RLREC_TOKEN", "t")
    with pytest.raises(Exception, match="no trained dqn"):
        serve.serve(run_dir, method="dqn")
    with pytest.raises(Exception, match="not a run directory"):
        serve.serve(run_dir / "nope")


def test_sweep_command_writes_the_table(run_dir):
    args = ["sweep", "-c", str(run_dir / "config.yaml"), "--seeds", "0", "--name", "cli",
            "--grid", "ilrec.train_episodes=32,64"]  # fmt: skip
    done = CliRunner().invoke(app(), args)
    assert done.exit_code == 0, done.output
    assert "ilrec.train_episodes=64" in done.output
    assert (run_dir / "sweeps" / "cli" / "results.md").is_file()
    assert sweep.parse_grid(["a.b=1,x,0.5"]) == {"a.b": [1, "x", 0.5]}
    with pytest.raises(ConfigError, match="key=v1,v2"):
        sweep.parse_grid(["ilrec.lr"])
