from pathlib import Path

import pytest
import yaml

from rlrec.config import apply_overrides, load_config, parse_override, to_yaml
from rlrec.errors import ConfigError
from rlrec.experiment import ExperimentConfig

REPO = Path(__file__).resolve().parents[1]


def test_parse_override_reads_values_as_yaml():
    assert parse_override("seed=3") == (["seed"], 3)
    assert parse_override("data.kcore=5") == (["data", "kcore"], 5)
    assert parse_override("lr=0.001") == (["lr"], 0.001)
    assert parse_override("data.domains=[Books, CDs]") == (["data", "domains"], ["Books", "CDs"])
    assert parse_override("data.path=null") == (["data", "path"], None)
    assert parse_override("name=a=b") == (["name"], "a=b")


@pytest.mark.parametrize("bad", ["seed", "=3", "a..b=1", ".a=1"])
def test_malformed_override_is_an_error(bad):
    with pytest.raises(ConfigError):
        parse_override(bad)


def test_apply_overrides_nests_and_does_not_mutate():
    base = {"data": {"name": "ml-100k"}, "seed": 0}
    out = apply_overrides(base, ["data.synthetic.n_users=50", "seed=2"])
    assert out == {"data": {"name": "ml-100k", "synthetic": {"n_users": 50}}, "seed": 2}
    assert base == {"data": {"name": "ml-100k"}, "seed": 0}


def test_override_into_a_value_is_an_error():
    with pytest.raises(ConfigError, match="'seed' is a value, not a section"):
        apply_overrides({"seed": 1}, ["seed.x=2"])


def test_file_then_overrides_then_defaults(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("name: mine\ndata:\n  name: synthetic-interactive\n")
    cfg = load_config(ExperimentConfig, path, ["data.synthetic.seed=4", "seed=9"])
    assert cfg.name == "mine" and cfg.seed == 9
    assert cfg.data.name == "synthetic-interactive"
    assert cfg.data.synthetic.seed == 4
    assert cfg.data.synthetic.n_users == 300  # default from the model


def test_unknown_key_names_the_key_and_suggests():
    with pytest.raises(ConfigError) as err:
        load_config(ExperimentConfig, None, ["data.kcroe=5"])
    msg = str(err.value)
    assert "unknown key 'data.kcroe'" in msg
    assert "did you mean 'data.kcore'" in msg


def test_wrong_type_names_the_key_and_expected_type():
    with pytest.raises(ConfigError) as err:
        load_config(ExperimentConfig, None, ["data.synthetic.n_users=many"])
    msg = str(err.value)
    assert "'data.synthetic.n_users'" in msg
    assert "expected int" in msg and "'many'" in msg


def test_constraint_violation_is_reported():
    with pytest.raises(ConfigError, match=r"data\.kcore"):
        load_config(ExperimentConfig, None, ["data.kcore=-1"])


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(ExperimentConfig, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(ExperimentConfig, bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("3\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(ExperimentConfig, scalar)


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(ExperimentConfig, None, ["data.path=/some/where", "seed=5"])
    path = tmp_path / "resolved.yaml"
    path.write_text(to_yaml(cfg))
    assert load_config(ExperimentConfig, path) == cfg


@pytest.mark.parametrize("path", sorted((REPO / "configs").rglob("*.yaml")), ids=str)
def test_every_shipped_config_loads(path):
    from rlrec.crossdomain.config import MarcoExperimentConfig

    assert yaml.safe_load(path.read_text()) is not None
    load_config(MarcoExperimentConfig if path.parent.name == "marco" else ExperimentConfig, path)


def _bomb(levels: int = 9) -> str:
    """A list of lists under a known key, each level nine aliases of the one before."""
    rows = ['    - &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        rows.append(f"    - &l{i} [{','.join([f'*l{i - 1}'] * 9)}]")
    return "seed: 1\ndata:\n  domains:\n" + "\n".join(rows) + "\n"


def test_a_yaml_bomb_is_refused_before_it_is_built(tmp_path):
    """About 400 bytes expanding to 9^9 strings: refused at once, with a short message."""
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb())
    assert len(path.read_bytes()) < 500
    with pytest.raises(ConfigError, match="expands to more than") as err:
        load_config(ExperimentConfig, path)
    assert len(str(err.value)) < 300


def test_aliases_of_normal_size_and_recursive_ones(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("seed: &s 4\nevaluation:\n  seeds: [*s, *s]\n")
    assert load_config(ExperimentConfig, path).evaluation.seeds == [4, 4]
    path.write_text("seed: 1\nname: &r [*r]\n")
    with pytest.raises(ConfigError, match="recursive"):
        load_config(ExperimentConfig, path)


def test_an_override_cannot_smuggle_a_bomb():
    value = "[" + ",".join(["&a0 [x,x,x,x,x,x,x,x,x,x]"] + ["*a0"] * 9) + "]"
    nested = "{" + ", ".join(f"k{i}: &a{i + 1} [{', '.join([f'*a{i}'] * 10)}]" for i in range(8))
    with pytest.raises(ConfigError, match="expands to more than"):
        parse_override(f"data.domains=[&a0 [x,x,x,x,x,x,x,x,x,x], {nested}}}]")
    assert parse_override(f"data.domains={value}")[1][1] == ["x"] * 10  # small: fine


def test_error_messages_cut_long_values():
    huge = "x" * 100_000
    with pytest.raises(ConfigError) as err:
        load_config(ExperimentConfig, None, [f"seed={huge}"])
    text = str(err.value)
    assert len(text) < 1000 and "more characters" in text
    with pytest.raises(ConfigError) as err:
        load_config(ExperimentConfig, None, [f"{huge}=1"])
    assert len(str(err.value)) < 2000


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "1.0e+999"])
def test_numbers_must_be_finite(value):
    with pytest.raises(ConfigError, match=r"ilrec\.lr"):
        load_config(ExperimentConfig, None, [f"ilrec.lr={value}"])


def test_a_bom_at_the_start_of_a_config_file_is_fine(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfseed: 7\n")
    assert load_config(ExperimentConfig, path).seed == 7
