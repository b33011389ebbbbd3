"""The checks a request passes before any of its body is read (an ASGI middleware).

In order, from the request line and headers alone:
1. the bearer token (every path except the open ones, `/healthz`; `/openapi.json` included): a
   missing or wrong token is a 401 and not one byte of the body is read;
2. the declared `Content-Length`: not a number is a 400, above `max_body` a 413;
3. the body itself, read here up to `max_body` bytes (a chunked body that grows past it is a
   413) and within `body_timeout` seconds of the request (a client trickling its body is a 408).

Only then does the application see the request, with the body replayed from memory. Every
rejection closes the connection (`Connection: close`), so the rest of an unread body is never
buffered. The token check is constant-time (`hmac.compare_digest`).

`idle_timeout_protocol` is the connection-level half: uvicorn times out keep-alive connections
only after a first response, so a client that connects and sends nothing (or trickles its
headers a byte at a time) would hold a socket for ever; the protocol it returns closes any
connection that has not completed a request's headers within `idle` seconds of opening or of
its last response.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = [
    "DEFAULT_BODY_TIMEOUT",
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_MAX_BODY",
    "Guard",
    "Rejected",
    "bearer_ok",
    "idle_timeout_protocol",
]

DEFAULT_MAX_BODY = 1 << 20  # 1 MiB: a request at the history limit is a few kB
DEFAULT_BODY_TIMEOUT = 10.0
DEFAULT_IDLE_TIMEOUT = 5.0


class Rejected(Exception):
    """A request refused before the application saw it: status, one-line detail."""

    def __init__(self, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or []


def bearer_ok(headers: list[tuple[bytes, bytes]], expected: bytes) -> bool:
    """True when the `Authorization` header is `Bearer <expected>` (constant-time compare)."""
    given = b""
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, credentials = value.partition(b" ")
            if scheme.lower() == b"bearer":
                given = credentials.strip()
            break
    return hmac.compare_digest(given, expected)


def declared_length(headers: list[tuple[bytes, bytes]], max_body: int) -> int | None:
    """The `Content-Length` of a request (None when absent); Rejected 400/413 when it is not a
    number or exceeds `max_body`."""
    for name, value in headers:
        if name.lower() == b"content-length":
            if not value.strip().isdigit():
                raise Rejected(400, "Content-Length is not a number")
            length = int(value)
            if length > max_body:
                raise Rejected(413, f"request body too large: {length} bytes, at most {max_body}")
            return length
    return None


async def read_body(receive: Receive, max_body: int, timeout: float) -> bytes:
    """The whole body, at most `max_body` bytes, all within `timeout` seconds (Rejected
    413/408/400 otherwise)."""
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    size = 0
    while True:
        left = deadline - time.monotonic()
        try:
            message = await asyncio.wait_for(receive(), timeout=max(left, 0.0))
        except TimeoutError:
            raise Rejected(408, f"request body not received within {timeout:g} s") from None
        if message["type"] == "http.disconnect":
            raise Rejected(400, "client disconnected before sending the body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_body:
            raise Rejected(413, f"request body too large: more than {max_body} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class Guard:
    """ASGI middleware: authentication and body limits before the application runs."""

    def __init__(
        self,
        app: ASGIApp,
        token: bytes,
        max_body: int = DEFAULT_MAX_BODY,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        open_paths: tuple[str, ...] = ("/healthz",),
    ) -> None:
        self.app = app
        self.token = token
        self.max_body = max_body
        self.body_timeout = body_timeout
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            body = await self._admit(scope, receive)
        except Rejected as err:
            await _reject(send, err)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _admit(self, scope: Scope, receive: Receive) -> bytes:
        headers = scope.get("headers", [])
        if scope["path"] not in self.open_paths and not bearer_ok(headers, self.token):
            raise Rejected(
                401, "missing or invalid bearer token", [(b"www-authenticate", b"Bearer")]
            )
        length = declared_length(headers, self.max_body)
        if length == 0 or (length is None and scope["method"] in ("GET", "HEAD")):
            return b""  # nothing to wait for (and GET without a body must not block)
        return await read_body(receive, self.max_body, self.body_timeout)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the application the body already read, then the real stream
    (for its disconnect message)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _reject(send: Send, err: Rejected) -> None:
    payload = json.dumps({"detail": err.detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close"),
        *err.headers,
    ]
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def idle_timeout_protocol(base: type[asyncio.Protocol], idle: float) -> type[asyncio.Protocol]:
    """`base` (a uvicorn HTTP protocol class) that closes a connection when no request is being
    served and `idle` seconds have passed since it opened or answered its last request."""

    class IdleTimeout(base):  # type: ignore[valid-type, misc]
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._idle_since = time.monotonic()
            self._reaper = asyncio.get_running_loop().call_later(idle, self._reap)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._idle_since = time.monotonic()

        def connection_lost(self, exc: Exception | None) -> None:
            self._reaper.cancel()
            super().connection_lost(exc)

        def _reap(self) -> None:
            if self.transport.is_closing():
                return
            busy = self.cycle is not None and not self.cycle.response_complete
            waited = time.monotonic() - self._idle_since
            if not busy and waited >= idle:
                self.transport.close()
                return
            wait = idle if busy else idle - waited
            self._reaper = asyncio.get_running_loop().call_later(wait, self._reap)

    IdleTimeout.__name__ = f"IdleTimeout{base.__name__}"
    return IdleTimeout
