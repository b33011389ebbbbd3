"""The HTTP service of a trained policy (FastAPI).

    GET  /healthz     {"status": "ok"}; no token needed (for load balancers and probes)
    GET  /metadata    what is served: run, method, seed, catalogue size, window, limits
    POST /recommend   {"user_id"?: id, "history"?: [{"item_id": id, "reward": r}, ...], "k"?: 10}
                      -> {"user_id", "known_user", "k", "items": [{"item_id", "title", "score"}]}

Every path but `/healthz` (`/openapi.json` included) needs `Authorization: Bearer <token>`, the
token being the value of the environment variable `token_env` when the app is made. The token,
the declared body size and then the body itself are checked before the application sees the
request (`rlrec.serve.guard`): a missing or wrong token is a 401 with no byte of the body read, a
body above `max_body` bytes a 413, a body not received within `body_timeout` seconds a 408. The
token is never logged or echoed.

Input errors are 4xx with a one-line `detail`, never a 500: malformed JSON 400; unknown user
404; unknown item, k outside [1, max_k], a history longer than max_history, a reward that is not
a finite number, or a wrongly typed field 422. `user_id` may be omitted (an anonymous user, served
from the history alone); the history is oldest first, and only its last `window` pairs reach the
network.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at run time.
import gc
import json
import os
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from rlrec import __version__
from rlrec.config import clip
from rlrec.errors import ConfigError
from rlrec.serve.guard import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_BODY,
    Guard,
    idle_timeout_protocol,
)
from rlrec.serve.model import Batcher, LoadedPolicy, Query, UnknownId

__all__ = ["RecommendRequest", "create_app", "run_server"]

Id = StrictInt | StrictStr  # 7 and "7" name the same id; 7.0 and true name none


class HistoryItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: Id = Field(description="raw item id of the catalogue")
    reward: float = Field(allow_inf_nan=False, description="the user's reward for it")


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: Id | None = Field(None, description="a user of the training split; omit: anonymous")
    history: list[HistoryItem] = Field(default_factory=list, description="recent, oldest first")
    k: int = Field(10, description="how many items to return")


class Recommended(BaseModel):
    item_id: Id
    title: str
    score: float


class RecommendResponse(BaseModel):
    user_id: Id | None
    known_user: bool
    k: int
    items: list[Recommended]


def create_app(
    model: LoadedPolicy,
    token_env: str = "RLREC_TOKEN",
    max_batch: int = 256,
    max_body: int = DEFAULT_MAX_BODY,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
) -> FastAPI:
    """The service of `model`, protected by the bearer token in `$token_env` (ConfigError when
    it is unset or empty), refusing bodies above `max_body` bytes or slower than `body_timeout`
    seconds."""
    if max_body < 1 or not 0 < body_timeout < float("inf"):
        raise ConfigError(f"max_body must be >= 1 and body_timeout > 0, got {max_body}, "
                          f"{body_timeout}")  # fmt: skip
    token = os.environ.get(token_env, "")
    if not token.strip():
        raise ConfigError(
            f"set the environment variable {token_env} to the bearer token clients must send"
        )
    expected = token.encode("utf-8")
    batcher = Batcher(model, max_batch=max_batch)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        gc.collect()
        gc.freeze()  # the loaded model is permanent: full collections need not scan it
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(
        title="rlrec policy service",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.model = model
    app.state.batcher = batcher
    app.add_middleware(
        Guard, token=expected, max_body=max_body, body_timeout=body_timeout
    )  # outermost of ours: runs before routing, validation and the body parse

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, err: RequestValidationError) -> JSONResponse:
        errors = err.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse({"detail": "malformed JSON body"}, status_code=400)
        return JSONResponse({"detail": _describe(errors)}, status_code=422)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metadata")
    async def metadata() -> dict[str, Any]:
        return {
            **model.metadata(),
            "version": __version__,
            "batches": batcher.batches,
            "queries": batcher.queries,
            "policy_seconds": batcher.busy_s,
        }

    @app.post(
        "/recommend",
        response_model=RecommendResponse,
        openapi_extra={"requestBody": REQUEST_BODY_DOC},
    )
    async def recommend(request: Request) -> Response:
        body = parse_request(request.headers.get("content-type", ""), await request.body())
        query = to_query(model, body)
        items = await batcher.submit(query)
        answer = {"user_id": body.user_id, "known_user": query.user >= 0, "k": body.k}
        # built here, already valid: skips FastAPI's re-validation of the response model
        return Response(orjson.dumps({**answer, "items": items}), media_type="application/json")

    return app


def run_server(
    app: FastAPI,
    host: str,
    port: int,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    access_log: bool = False,
) -> None:
    """Serve `app` with uvicorn until interrupted; connections idle for `idle_timeout` seconds
    (before their first request too) are closed (`guard.idle_timeout_protocol`)."""
    import uvicorn
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    if not 0 < idle_timeout < float("inf"):
        raise ConfigError(f"idle timeout must be a positive number of seconds, got {idle_timeout}")
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        access_log=access_log,
        http=idle_timeout_protocol(AutoHTTPProtocol, idle_timeout),
        timeout_keep_alive=max(1, round(idle_timeout)),
    )


NOT_AN_OBJECT = "Input should be a valid dictionary or object to extract fields from"
REQUEST_BODY_DOC = {
    "required": True,
    "content": {"application/json": {"schema": RecommendRequest.model_json_schema()}},
}


def parse_request(content_type: str, raw: bytes) -> RecommendRequest:
    """The body of POST /recommend, parsed and validated here rather than by FastAPI's
    dependency machinery (61 of about 200 microseconds of a request's time in the app, by
    profile), with FastAPI's answers: malformed JSON, 400; no body, a body that is not a JSON
    object or not sent as application/json, or a field that does not validate, 422."""
    if not raw:
        raise _invalid("missing", "Field required")
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        raise _invalid("model_attributes_type", NOT_AN_OBJECT)
    try:
        data = json.loads(raw)  # as FastAPI: NaN parses, and the reward's check refuses it
    except (ValueError, UnicodeDecodeError):
        raise _invalid("json_invalid", "JSON decode error") from None
    if not isinstance(data, dict):
        raise _invalid("model_attributes_type", NOT_AN_OBJECT)
    try:
        return RecommendRequest.model_validate(data)
    except ValidationError as err:
        raise RequestValidationError(err.errors()) from None


def _invalid(kind: str, msg: str) -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": ("body",), "msg": msg}])


def to_query(model: LoadedPolicy, body: RecommendRequest) -> Query:
    """Validate a request against the model's ids and limits (HTTPException 404/422)."""
    if not 1 <= body.k <= model.max_k:
        raise HTTPException(422, f"k must be between 1 and {model.max_k}, got {body.k}")
    if len(body.history) > model.max_history:
        raise HTTPException(
            422, f"history too long: {len(body.history)} items, at most {model.max_history}"
        )
    try:
        user = model.user_row(body.user_id)
    except UnknownId as err:
        raise HTTPException(404, f"{clip(str(err))}: not a user of the policy; omit user_id to "
                                 "serve an anonymous user from the history") from None  # fmt: skip
    try:
        items = np.array([model.item_column(h.item_id) for h in body.history], dtype=np.int64)
    except UnknownId as err:
        raise HTTPException(422, f"history: {clip(str(err))}") from None
    rewards = np.array([h.reward for h in body.history], dtype=np.float32)
    return Query(user=user, items=items, rewards=rewards, k=body.k)


def _describe(errors: list[dict[str, Any]]) -> str:
    """One line: `history.2.reward: Input should be a finite number; k: ...`."""
    parts = []
    for e in errors[:5]:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {e.get('msg', 'invalid')}")
    return "; ".join(parts)
