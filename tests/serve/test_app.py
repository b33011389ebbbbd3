"""The policy service: answers of a real trained run, batching, and every bad input as a 4xx."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest
from fastapi.testclient import TestClient

from rlrec.errors import ConfigError
from rlrec.serve.app import create_app
from rlrec.serve.model import Batcher, Query

TOKEN = "s3cret-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(loaded, monkeypatch):
    monkeypatch.setenv("RLREC_TEST_TOKEN", TOKEN)
    with TestClient(create_app(loaded, token_env="RLREC_TEST_TOKEN")) as http:
        yield http


def test_recommend_known_and_anonymous_users(client, loaded):
    assert client.get("/healthz").json() == {"status": "ok"}
    meta = client.get("/metadata", headers=AUTH).json()
    assert (meta["method"], meta["seed"], meta["window"]) == ("il-rec", 0, 4)
    user, items = loaded.user_ids[3], loaded.item_ids[:6]
    history = [{"item_id": i, "reward": 4.0} for i in items]
    done = client.post(
        "/recommend", json={"user_id": user, "history": history, "k": 5}, headers=AUTH
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["known_user"] and body["k"] == 5 and len(body["items"]) == 5
    assert not {r["item_id"] for r in body["items"]} & set(items)  # the history is excluded
    scores = [r["score"] for r in body["items"]]
    assert scores == sorted(scores, reverse=True)
    assert (
        body["items"][0]["title"] == loaded.titles[loaded.item_column(body["items"][0]["item_id"])]
    )
    # the same answer as one pass of the model, ids given as text
    cols = np.array([loaded.item_column(i) for i in items])
    direct = loaded.recommend([Query(3, cols, np.full(6, 4.0, np.float32), 5)])[0]
    assert [r["item_id"] for r in body["items"]] == [r["item_id"] for r in direct]
    text_history = [{**h, "item_id": str(h["item_id"])} for h in history]
    as_text = {"user_id": str(user), "history": text_history, "k": 5}
    assert client.post("/recommend", json=as_text, headers=AUTH).json()["items"] == body["items"]
    anonymous = client.post("/recommend", json={}, headers=AUTH).json()
    assert not anonymous["known_user"] and len(anonymous["items"]) == 10


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"user_id": "nobody"}, 404, "unknown user_id 'nobody'"),
        ({"history": [{"item_id": 10**9, "reward": 3.0}]}, 422, "unknown item_id 1000000000"),
        ({"k": 0}, 422, "k must be between 1 and 60"),
        ({"k": 61}, 422, "k must be between 1 and 60"),
        ({"history": [{"item_id": 1, "reward": 3.0}] * 101}, 422, "history too long: 101"),
        ({"k": "ten"}, 422, "k:"),
        ({"user_id": 1.5}, 422, "user_id"),
        ({"history": [{"item_id": 1}]}, 422, "history.0.reward"),
        ({"colour": "red"}, 422, "colour"),
    ],
)
def test_bad_inputs_are_4xx_with_a_clear_message(client, body, status, fragment):
    done = client.post("/recommend", json=body, headers=AUTH)
    assert done.status_code == status, done.text
    assert fragment in done.json()["detail"]


def test_malformed_json_and_non_finite_rewards(client):
    headers = {**AUTH, "Content-Type": "application/json"}
    done = client.post("/recommend", content=b'{"user_id": 1, "k": ', headers=headers)
    assert done.status_code == 400 and done.json()["detail"] == "malformed JSON body"
    done = client.post("/recommend", content=b"[1, 2]", headers=headers)
    assert done.status_code == 422
    nan = b'{"history": [{"item_id": 1, "reward": NaN}]}'
    done = client.post("/recommend", content=nan, headers=headers)
    assert done.status_code == 422 and "finite" in done.json()["detail"]


@pytest.mark.parametrize(
    ("content", "content_type", "detail"),
    [
        (b"", "application/json", "body: Field required"),
        (b"[1, 2]", "application/json", "body: Input should be a valid dictionary"),
        (b'"k"', "application/json", "body: Input should be a valid dictionary"),
        (b'{"k": 3}', "text/plain", "body: Input should be a valid dictionary"),
        (b'{"k": 3}', None, "body: Input should be a valid dictionary"),
    ],
)
def test_bodies_that_are_not_a_json_object_get_fastapis_answers(
    client, content, content_type, detail
):
    """The endpoint parses its body itself (faster than FastAPI's dependency machinery): the
    answers are the ones FastAPI gave."""
    headers = {**AUTH, **({"Content-Type": content_type} if content_type else {})}
    done = client.post("/recommend", content=content, headers=headers)
    assert done.status_code == 422 and done.json()["detail"].startswith(detail), done.text


def test_the_request_body_is_documented(client):
    spec = client.get("/openapi.json", headers=AUTH).json()
    body = spec["paths"]["/recommend"]["post"]["requestBody"]
    assert set(body["content"]["application/json"]["schema"]["properties"]) == {
        "user_id",
        "history",
        "k",
    }


def test_the_token_is_required_and_never_logged(client, caplog):
    caplog.set_level(logging.DEBUG)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        done = client.post("/recommend", json={}, headers=headers)
        assert done.status_code == 401 and done.headers["www-authenticate"] == "Bearer"
        assert client.get("/metadata", headers=headers).status_code == 401
    assert client.post("/recommend", json={}, headers=AUTH).status_code == 200
    assert TOKEN not in caplog.text


def test_the_token_must_be_set(loaded, monkeypatch):
    monkeypatch.delenv("RLREC_TEST_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="RLREC_TEST_TOKEN"):
        create_app(loaded, token_env="RLREC_TEST_TOKEN")


def test_concurrent_queries_are_batched_with_the_same_answers(loaded):
    rng = np.random.default_rng(0)
    queries = [
        Query(int(rng.integers(-1, 60)), rng.integers(0, 60, size=n), rng.uniform(0, 5, n), 7)
        for n in rng.integers(0, 8, size=64)
    ]

    async def run() -> tuple[list, Batcher]:
        batcher = Batcher(loaded)
        await batcher.start()
        answers = await asyncio.gather(*(batcher.submit(q) for q in queries))
        await batcher.stop()
        return answers, batcher

    answers, batcher = asyncio.run(run())
    single = [loaded.recommend([q])[0] for q in queries]
    assert [[r["item_id"] for r in a] for a in answers] == [
        [r["item_id"] for r in a] for a in single
    ]
    assert batcher.queries == 64 and batcher.batches < 64  # several queries shared a pass
