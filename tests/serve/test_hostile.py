"""The policy service probed as a hostile client would, over real sockets against a server process
started as `rlrec serve` starts it (`create_app` + `run_server`; the policy is a small fixed one, so
the probes do not wait on training): no body is read before the token is checked, bodies are
capped, the OpenAPI page is protected, idle and slow connections are closed, and memory stays flat
under a 1 GB declared body."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

TOKEN = "hostile-test-token"
MAX_BODY = 64 * 1024
GIB = 1 << 30
HEALTH = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVER = """
import sys
from rlrec.serve.app import create_app, run_server
from tests.serve.helpers import fixed_policy

app = create_app(fixed_policy(), token_env="RLREC_HOSTILE_TOKEN", max_body=int(sys.argv[2]),
                 body_timeout=1.0)
run_server(app, "127.0.0.1", int(sys.argv[1]), idle_timeout=1.0)
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[int, int]]:
    """(port, pid) of the service, with 1 s body and idle timeouts and a 64 kB body cap."""
    port = _free_port()
    env = {**os.environ, "RLREC_HOSTILE_TOKEN": TOKEN, "RLREC_THREADS": "1"}
    args = [sys.executable, "-c", SERVER, str(port), str(MAX_BODY)]
    log = tmp_path_factory.mktemp("server") / "stderr.txt"
    with open(log, "wb") as err:
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        for _ in range(600):  # importing torch and FastAPI takes a few seconds
            if proc.poll() is not None:
                pytest.fail(f"the server exited: {log.read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                if b" 200 " in _exchange(port, HEALTH):
                    break
            time.sleep(0.2)
        else:
            pytest.fail(f"the server did not answer /healthz: {log.read_text()[-2000:]}")
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (30 s socket timeout)."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def _exchange(port: int, request: bytes) -> bytes:
    with _connect(port) as sock:
        sock.sendall(request)
        return _read_until_closed(sock)


def _head(path: str, length: int, token: str | None = None, method: str = "POST") -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"{auth}Content-Length: {length}\r\nConnection: close\r\n\r\n").encode()  # fmt: skip


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def _rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


class PeakRss:
    """Peak resident memory of a process over a block: the kernel's high-water mark reset
    through /proc/<pid>/clear_refs where allowed, else sampled every few milliseconds."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakRss:
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
            self.exact = True
        except OSError:
            self.exact = False
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_kb(self.pid, "VmRSS"))
            time.sleep(0.002)

    def __exit__(self, *exc: object) -> None:
        if self.exact:
            self.peak = _rss_kb(self.pid, "VmHWM")
        else:
            self._stop.set()
            assert self._thread is not None
            self._thread.join()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_a_1gb_body_without_token_is_refused_unread_and_memory_stays_flat(server):
    port, pid = server
    idle = _rss_kb(pid, "VmRSS")
    sent = 0
    with PeakRss(pid) as peak:  # the kernel's peak resident size over the attack
        for _ in range(3):  # three attackers, one after the other
            with _connect(port) as sock:
                sock.sendall(_head("/recommend", GIB))
                chunk = b"7" * (1 << 20)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    for _ in range(256):  # up to 256 MB of the declared 1 GB, while it listens
                        sock.sendall(chunk)
                        sent += len(chunk)
                answer = _read_until_closed(sock)
                assert _status(answer) == 401, answer[:200]
                assert b"missing or invalid bearer token" in answer
    assert sent < 3 * 256 * (1 << 20), "the server kept reading a body it had refused"
    grown_mb = (peak.peak - idle) / 1024
    assert grown_mb < 50, f"peak memory grew by {grown_mb:.1f} MB over idle"


def test_a_truncated_body_without_token_is_401_not_400(server):
    port, _ = server
    answer = _exchange(port, _head("/recommend", 100) + b'{"user_id": 1, "k": ')
    assert _status(answer) == 401


def test_bodies_above_the_cap_are_413_before_they_are_read(server):
    port, _ = server
    with _connect(port) as sock:  # declared: refused on the headers alone
        sock.sendall(_head("/recommend", 5 * 1024 * 1024, TOKEN))
        answer = _read_until_closed(sock)
    assert _status(answer) == 413 and b"too large" in answer
    chunked = (b"POST /recommend HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
               + TOKEN.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n")  # fmt: skip
    piece = b"a" * 16384
    body = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(8)) + b"0\r\n\r\n"
    answer = _exchange(port, chunked + body)  # 128 kB, undeclared: counted while read
    assert _status(answer) == 413
    small = b'{"k": 3}'
    answer = _exchange(port, _head("/recommend", len(small), TOKEN) + small)
    assert _status(answer) == 200, answer[:300]


def test_a_body_that_never_completes_is_408(server):
    port, _ = server
    with _connect(port) as sock:
        sock.sendall(_head("/recommend", 1000, TOKEN) + b'{"k": ')
        answer = _read_until_closed(sock)  # the body timeout is 1 s
    assert _status(answer) == 408


def test_the_openapi_page_needs_the_token(server):
    port, _ = server
    get = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    assert _status(_exchange(port, get + b"\r\n")) == 401
    auth = b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
    answer = _exchange(port, get + auth + b"\r\n")
    assert _status(answer) == 200 and b'"/recommend"' in answer
    for path in (b"/docs", b"/redoc"):
        answer = _exchange(port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n")
        assert _status(answer) == 404


@pytest.mark.parametrize(
    "opening",
    [b"", b"POST /recommend HTTP/1.1\r\nHost: x\r\n"],  # silent; headers never finished
    ids=["silent", "slow-headers"],
)
def test_idle_connections_are_closed(server, opening):
    port, _ = server
    with _connect(port) as sock:
        sock.sendall(opening)
        assert _read_until_closed(sock) == b""  # closed by the server (idle timeout 1 s)


def test_a_kept_alive_connection_is_closed_after_its_idle_time(server):
    port, _ = server
    with _connect(port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = _read_until_closed(sock)
    assert _status(answer) == 200 and answer.endswith(b'{"status":"ok"}')
