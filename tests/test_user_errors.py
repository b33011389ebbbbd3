"""Errors a user or a remote server can cause: one message, a `RlrecError`, never a traceback.

Each CLI command meets a corrupt input of its kind in `test_every_command_on_a_corrupt_input`;
the other tests pin the error paths below it (a checkpoint of the wrong shape, an LLM server that
answers nonsense)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from rlrec.errors import DataError, RlrecError
from rlrec.interactive.learners.training import restore


class _Tiny:
    """The smallest learner: one linear layer."""

    name = "tiny"

    def __init__(self) -> None:
        self.net = torch.nn.Linear(2, 2)

    def load_state_dict(self, state):
        self.net.load_state_dict({k: torch.as_tensor(v) for k, v in state["net"].items()})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"learner": "tiny"}, "not an rlrec checkpoint"),
        ([1, 2, 3], "not an rlrec checkpoint"),
        ({"state": {"other": {}}}, "does not fit the tiny learner"),
        ({"state": {"net": {"weight": torch.zeros(3, 3)}}}, "does not fit the tiny learner"),
    ],
)
def test_a_checkpoint_of_the_wrong_structure_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "policy.pt"
    torch.save(content, path)
    with pytest.raises(DataError, match=message):
        restore(_Tiny(), path)
    good = _Tiny()
    torch.save({"state": {"net": good.net.state_dict()}}, path)
    restore(_Tiny(), path)  # a checkpoint that fits loads


class _Scripted:
    """An HTTP server answering each POST with the next scripted (status, body) pair."""

    def __init__(self, answers: list[tuple[int, bytes]]) -> None:
        script = iter(answers)
        self.count = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                outer.count += 1
                status, body = next(script)
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/v1"
        threading.Thread(target=self.http.serve_forever, args=(0.02,), daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def _backend(tmp_path: Path, url: str):
    from rlrec.interactive.llm import LLMConfig, make_backend

    fast = {"backoff_base_s": 0.001, "backoff_max_s": 0.01, "timeout_s": 5.0, "max_retries": 2}
    cfg = LLMConfig(backend="openai", model="m", base_url=url, cache_dir=tmp_path, **fast)
    return make_backend(cfg)


def _answer(usage: dict) -> bytes:
    return json.dumps({"choices": [{"message": {"content": "hi"}}], "usage": usage}).encode()


ASK = [{"role": "user", "content": "hello"}]


def test_a_200_that_is_not_json_is_retried(tmp_path):
    server = _Scripted([(200, b"<html>busy</html>"), (200, b"[1]"), (200, _answer({}))])
    try:
        assert _backend(tmp_path, server.url).chat(ASK).text == "hi"
        assert server.count == 3
    finally:
        server.close()
    server = _Scripted([(200, b"not json")] * 3)
    try:
        with pytest.raises(RlrecError, match="not a JSON object"):
            _backend(tmp_path / "b", server.url).chat(ASK)
    finally:
        server.close()


@pytest.mark.parametrize(
    "usage", [{"prompt_tokens": "many"}, {"completion_tokens": 1.5}, {"prompt_tokens": -3}]
)
def test_usage_that_is_not_a_count_is_one_clear_error(tmp_path, usage):
    server = _Scripted([(200, _answer(usage))])
    try:
        with pytest.raises(RlrecError, match="usage"):
            _backend(tmp_path, server.url).chat(ASK)
    finally:
        server.close()


def _corrupt_inputs(tmp: Path) -> dict[str, Path]:
    """One broken file or folder of each kind a command reads."""
    rows = 2 + 9 * 8
    bomb = tmp / "bomb.yaml"
    levels = ['    - &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    levels += [f"    - &l{i} [{','.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    bomb.write_text("data:\n  domains:\n" + "\n".join(levels) + "\n")
    poison = tmp / "ratings.csv"
    poison.write_text("user_id,item_id,rating\n1,1,4\n1,2,inf\n2,1,1e308\n")
    dumps = tmp / "dumps"
    dumps.mkdir()
    (dumps / "reviews_Books_5.json").write_text("not json\n{}\n" * (rows // 2))
    garbage = tmp / "garbage.yaml"
    garbage.write_bytes(b"\x00\xff: [unclosed\n")
    run = tmp / "runs" / "broken"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("seed: [1\n")
    trajs = tmp / "amazon_trajs.json"
    trajs.write_text("{not json")
    catalogue = tmp / "catalogue"
    catalogue.mkdir()
    (catalogue / "datamaps.json").write_text('{"id2item_dict": 5}')
    return {"bomb": bomb, "poison": poison, "dumps": dumps, "garbage": garbage, "run": run,
            "trajs": trajs, "catalogue": catalogue}  # fmt: skip


def _cli(args: list[str], capsys) -> tuple[int, str]:
    """`rlrec ARGS` in this process through the real entry point: (exit status, stderr).
    An exception other than SystemExit (a traceback, in a shell) propagates."""
    from rlrec.cli.main import main

    argv = sys.argv
    sys.argv = ["rlrec", *args]
    try:
        main()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    finally:
        sys.argv = argv
    return code, capsys.readouterr().err


def test_every_command_on_a_corrupt_input(tmp_path, capsys, monkeypatch):
    f = {k: str(v) for k, v in _corrupt_inputs(tmp_path).items()}
    runs = f"runs_dir={tmp_path / 'runs'}"
    commands = [
        (["config", "show", "-c", f["bomb"]], "expands to more than"),
        (["config", "show", "-c", f["garbage"]], "garbage.yaml"),
        (["data", "info", "ratings-csv", "--path", f["poison"], "--strict"], "ratings.csv:3"),
        (["data", "fetch", "ratings-csv", "--path", f["poison"], "rating_scale=[5,1]"],
         "low < high"),
        (["data", "info", "amazon", "--path", f["dumps"]], "no valid review"),
        (["data", "prepare", "name=../../escape", runs], "plain folder name"),
        (["worldmodel", "train", "ilrec.lr=.inf", runs], "ilrec.lr"),
        (["evaluate", "-c", f["garbage"]], "garbage.yaml"),
        (["ilrec", "train", "-c", f["bomb"]], "expands to more than"),
        (["serve", f["run"]], "not valid YAML"),
        (["bench", "serve", f["run"]], "not valid YAML"),
        (["report", f["run"]], ""),
        (["compare", f["run"], f["run"]], ""),
        (["demos", "import-billp", f["trajs"], "--catalogue", f["catalogue"], "--out",
          str(tmp_path / "d.jsonl")], ""),
        (["experiment", "marco", "-c", f["bomb"]], "expands to more than"),
        (["marco", "run", "data.rating_scale=[1,.nan]", runs], "rating_scale"),
        (["sweep", "--grid", "ilrec.lr"], "key=v1,v2"),
        (["ilrec", "evaluate", "-c", f["garbage"]], "garbage.yaml"),
        (["baselines", "train", "--algo", "bc", "-c", f["bomb"]], "expands to more than"),
        (["experiment", "ilrec", "-c", f["garbage"]], "garbage.yaml"),
        (["quickstart", "-c", f["bomb"]], "expands to more than"),
        (["demos", "generate", "-c", f["garbage"]], "garbage.yaml"),
        (["bench", "llm", "-c", f["garbage"]], "garbage.yaml"),
        (["bench", "ilrec", "--episodes", "-3"], "--episodes must be a positive"),
        (["bench", "env", "--n-items", "0"], "--n-items must be a positive"),
        (["bench", "marco", "--n-users", "0"], "--n-users must be a positive"),
    ]  # fmt: skip
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RLREC_TOKEN", "t")
    failures = []
    for args, fragment in commands:
        code, err = _cli(args, capsys)
        if code != 2 or fragment not in err or err.count("\n") > 3:
            failures.append(f"rlrec {' '.join(args)} -> {code}: {err[-600:]}")
    assert not failures, "\n\n".join(failures)


def test_a_user_error_in_a_shell_is_one_line_and_status_2(tmp_path):
    """The same through a real process: no traceback reaches the terminal."""
    bomb = _corrupt_inputs(tmp_path)["bomb"]
    done = subprocess.run([sys.executable, "-m", "rlrec", "config", "show", "-c", str(bomb)],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr + done.stdout
    assert done.stderr.startswith("error: ") and "expands to more than" in done.stderr


def test_a_validation_error_escaping_a_command_is_one_line(monkeypatch, capsys):
    """The safety net of `main`: a config model's ValidationError past a command's own checks."""
    from rlrec.cli import main as cli
    from rlrec.data import DataConfig

    def command() -> None:
        DataConfig(kcore="x" * 5000)

    monkeypatch.setattr(cli, "app", command)
    code, err = _cli([], capsys)
    assert code == 2 and err.startswith("error: invalid value: kcore")
    assert err.count("\n") == 1 and len(err) < 400
