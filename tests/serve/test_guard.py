"""The checks before the body (`rlrec.serve.guard`) at the ASGI level: what is read, and when."""

from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient

from rlrec.errors import ConfigError
from rlrec.serve.app import create_app
from rlrec.serve.guard import Guard, bearer_ok
from tests.serve.helpers import fixed_policy

TOKEN = "guard-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


@pytest.fixture
def client(monkeypatch):
    monkeypatch.setenv("RLREC_GUARD_TOKEN", TOKEN)
    app = create_app(fixed_policy(), token_env="RLREC_GUARD_TOKEN", max_body=1000)
    with TestClient(app) as http:
        yield http


def test_every_path_but_healthz_needs_the_token(client):
    assert client.get("/healthz").status_code == 200
    for path in ("/openapi.json", "/metadata", "/nowhere"):
        done = client.get(path)
        assert done.status_code == 401 and done.headers["www-authenticate"] == "Bearer"
        assert done.headers["connection"] == "close"
    assert client.get("/openapi.json", headers=AUTH).status_code == 200
    assert client.get("/nowhere", headers=AUTH).status_code == 404  # only with the token
    best = client.post("/recommend", json={"k": 2}, headers=AUTH).json()["items"]
    assert [r["item_id"] for r in best] == [49, 48]


def test_sizes_beyond_the_cap_are_413(client):
    done = client.post("/recommend", content=b" " * 1001, headers=AUTH)
    assert done.status_code == 413 and "at most 1000" in done.json()["detail"]
    padded = b'{"k": 1}' + b" " * 900
    assert client.post("/recommend", content=padded, headers=AUTH).status_code == 200
    bad = {**AUTH, "Content-Length": "lots"}
    assert client.post("/recommend", content=b"{}", headers=bad).status_code in (400, 413)


def test_the_body_is_not_read_without_the_token():
    """The application is never called and `receive` never awaited on a 401."""
    calls = {"app": 0, "receive": 0}
    sent: list[dict] = []

    async def app(scope, receive, send):
        calls["app"] += 1

    async def receive():
        calls["receive"] += 1
        return {"type": "http.request", "body": b"x" * 10, "more_body": True}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/recommend",
             "headers": [(b"content-length", b"1000000000")]}  # fmt: skip
    asyncio.run(Guard(app, token=TOKEN.encode())(scope, receive, send))
    assert calls == {"app": 0, "receive": 0}
    assert sent[0]["status"] == 401
    scope["headers"].append((b"authorization", f"Bearer {TOKEN}".encode()))
    sent.clear()
    asyncio.run(Guard(app, token=TOKEN.encode(), max_body=100)(scope, receive, send))
    assert calls == {"app": 0, "receive": 0} and sent[0]["status"] == 413


def test_an_undeclared_body_is_counted_as_it_arrives():
    chunks = iter([b"a" * 60, b"b" * 60, b"c" * 60])
    read = []

    async def receive():
        chunk = next(chunks)
        read.append(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def app(scope, receive, send):  # pragma: no cover - must not run
        raise AssertionError("the application ran")

    scope = {"type": "http", "method": "POST", "path": "/recommend",
             "headers": [(b"authorization", f"Bearer {TOKEN}".encode())]}  # fmt: skip
    asyncio.run(Guard(app, token=TOKEN.encode(), max_body=100)(scope, receive, send))
    assert sent[0]["status"] == 413 and len(read) == 2  # stopped at the chunk past 100 bytes


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        (f"Bearer {TOKEN}", True),
        (f"bearer {TOKEN}", True),
        (f"Bearer {TOKEN}x", False),
        (TOKEN, False),
        ("Basic abc", False),
        ("", False),
    ],
)
def test_bearer_parsing(header, ok):
    headers = [(b"authorization", header.encode())] if header else []
    assert bearer_ok(headers, TOKEN.encode()) is ok


def test_limits_must_be_sane(monkeypatch):
    monkeypatch.setenv("RLREC_GUARD_TOKEN", TOKEN)
    with pytest.raises(ConfigError, match="max_body"):
        create_app(fixed_policy(), token_env="RLREC_GUARD_TOKEN", max_body=0)
    with pytest.raises(ConfigError, match="body_timeout"):
        create_app(fixed_policy(), token_env="RLREC_GUARD_TOKEN", body_timeout=float("inf"))


def test_answers_do_not_echo_huge_ids(client):
    huge = "u" * 900  # an id nearly the size of the body cap
    done = client.post("/recommend", json={"user_id": huge}, headers=AUTH)
    assert done.status_code == 404 and len(done.json()["detail"]) < 400
    history = [{"item_id": huge, "reward": 1.0}]
    done = client.post("/recommend", json={"history": history}, headers=AUTH)
    assert done.status_code == 422 and len(done.json()["detail"]) < 400
