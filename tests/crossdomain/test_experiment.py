"""End to end: the Amazon pipeline on synthetic Amazon-format dumps (every method, every stage,
tables and plots, resume), `rlrec marco run`, the YAML configs, and `rlrec bench marco`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from rlrec.bench.marco import bench_marco
from rlrec.cli.marco import app as marco_app
from rlrec.config import load_config
from rlrec.crossdomain.config import MarcoExperimentConfig
from rlrec.crossdomain.experiment import run_study
from rlrec.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]

TINY = [
    "data.name=synthetic-amazon",
    "data.synthetic.n_users=160",
    "data.synthetic.n_items=50",
    "data.synthetic.n_domains=3",
    "data.synthetic.ratings_per_user=12",
    "data.synthetic.overlap=0.7",
    "mf.epochs=3",
    "marco.warmup_epochs=1",
    "marco.epochs=2",
    "marco.mappo.ppo_epochs=1",
    "emcdr.steps=20",
    "evaluation.n_negatives=20",
]


def test_amazon_pipeline_end_to_end_and_resume(tmp_path: Path) -> None:
    overrides = [
        *TINY,
        f"runs_dir={tmp_path}",
        "name=amz",
        "study.targets=[CDs_and_Vinyl]",
        "study.betas=[0.5]",
        "study.seeds=[1]",
        "study.entropy_grid=[0.001]",
        "study.methods=[marco, marco-parity, uniform, remit, ptupcdr, ptupcdr-each, emcdr, "
        "emcdr-each, cmf, tgt]",
    ]
    cfg = load_config(MarcoExperimentConfig, None, overrides)
    results = run_study(cfg)
    methods = [r["method"] for r in results]
    assert "ptupcdr[Books]" in methods and "emcdr[Movies_and_TV]" in methods
    # the reference rows follow; no planted truth in this profile, so no oracle rows
    assert methods[12:] == ["global-mean", "item-mean", "warm"]
    for r in results:
        assert r["mae"] > 0 and r["rmse"] >= r["mae"] and "ndcg@10" in r
    parity = next(r for r in results if r["method"] == "marco-parity")
    assert len(parity["weights"]["mean_weight"]) == 3  # target-self + 2 sources
    assert "best_on_test_mae" in parity
    marco = next(r for r in results if r["method"] == "marco")
    assert set(marco["weights"]["mean_weight"]) == {"Books", "Movies_and_TV"}
    assert "best_on_test_mae" not in marco
    run = tmp_path / "amz"
    for name in (
        "results.md",
        "results.csv",
        "results.json",
        "weights.json",
        "plots/mae_by_beta.png",
        "plots/weights.png",
        "config.yaml",
    ):
        assert (run / name).is_file(), name
    assert "validation" in (run / "results.md").read_text()
    state = torch.load(
        run / "methods/CDs_and_Vinyl/beta0.5/marco/seed1/model.pt", weights_only=True
    )
    assert {"bridges", "policy"} <= set(state)
    stamp = (run / "manifest.json").read_text()
    again = run_study(cfg)  # every stage is a cache hit
    assert [r["mae"] for r in again] == [r["mae"] for r in results]
    stages = json.loads((run / "manifest.json").read_text())["stages"]
    assert json.loads(stamp)["stages"].keys() == stages.keys()


def test_marco_run_command(tmp_path: Path) -> None:
    args = [
        "run",
        "--target",
        "Books",
        "--beta",
        "0.2",
        "--seed",
        "3",
        "--methods",
        "marco,uniform,tgt",
        *TINY,
        f"runs_dir={tmp_path}",
        "name=cli",
    ]
    out = CliRunner().invoke(marco_app, args)
    assert out.exit_code == 0, out.output
    assert "marco: mean weights" in out.output and "uniform" in out.output
    # each domain's MF against the item mean on its held-out ratings, and the reference rows
    assert out.output.count("biased MF held-out MAE") == 3 and "vs item mean MAE" in out.output
    assert "item-mean" in out.output and "warm" in out.output
    bad = CliRunner().invoke(marco_app, [*args[:-1], "name=cli2", "study.methods=[nope]"])
    assert bad.exit_code == 0 or isinstance(bad.exception, ConfigError)
    bad = CliRunner().invoke(marco_app, ["run", "--methods", "nope", *TINY, f"runs_dir={tmp_path}"])
    assert isinstance(bad.exception, ConfigError)


@pytest.mark.parametrize("path", sorted((REPO / "configs" / "marco").glob("*.yaml")))
def test_configs_load(path: Path) -> None:
    cfg = load_config(MarcoExperimentConfig, path)
    assert cfg.study.betas


def test_bench_marco_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "marco.json"
    bench_marco(out, n_users=150, n_items=40, repeats=1)
    result = json.loads(out.read_text())
    for mode in ("marco", "parity"):
        assert result["modes"][mode]["bridge_samples_per_s"] > 0
        assert result["modes"][mode]["predict_pairs_per_s"] > 0
    assert result["modes"]["parity"]["agents"] == 4


def _row(method, target, beta, mae, std=0.0):
    return {"method": method, "target": target, "beta": beta, "mae": {"mean": mae, "std": std}}


def test_mae_overview_marks_the_best_method_of_each_target_and_beta():
    from rlrec.crossdomain.experiment import mae_overview

    rows = [
        _row("marco", "Drama", 0.2, 0.76),
        _row("uniform", "Drama", 0.2, 0.77),
        _row("marco", "Comedy", 0.2, 0.80),
        _row("uniform", "Comedy", 0.2, 0.78),
        _row("ptupcdr[Drama]", "Comedy", 0.2, 0.79),  # only where Drama is a source
        _row("ptupcdr", "Comedy", 0.2, 0.785),  # its rows follow marco's
    ]
    lines = mae_overview(rows).splitlines()
    header = lines.index("| method | Drama 0.2 | Comedy 0.2 |")
    assert lines[header + 2 :] == [
        "| marco | **0.760** | 0.800 |",
        "| uniform | 0.770 | **0.780** |",
        "| ptupcdr |  | 0.785 |",
        "| ptupcdr[Drama] |  | 0.790 |",
    ]


def test_a_method_within_noise_of_the_item_mean_is_never_bold():
    """The table must expose failure: reference rows are listed, a method within one seed-std
    of the item mean is marked "(no transfer)", and the gap a method closes is shown."""
    from rlrec.crossdomain.experiment import mae_overview

    rows = [
        _row("marco", "Books", 0.2, 0.799, std=0.004),  # 0.002 below the item mean: noise
        _row("uniform", "Books", 0.2, 0.790, std=0.003),  # clearly below it
        _row("global-mean", "Books", 0.2, 0.830),
        _row("item-mean", "Books", 0.2, 0.801),
        _row("warm", "Books", 0.2, 0.730),
    ]
    text = mae_overview(rows)
    assert "| marco | 0.799 (no transfer) |" in text
    assert "| uniform | **0.790** |" in text
    assert "| warm (upper reference: users not cold) | 0.730 |" in text
    assert text.index("*reference rows*") > text.index("| uniform |")
    assert "| uniform | 0.40 |" in text  # (0.830 - 0.790) / (0.830 - 0.730)
    only_noise = mae_overview([r for r in rows if r["method"] != "uniform"])
    assert "**" not in only_noise  # nothing beats the item mean: no method is bolded
