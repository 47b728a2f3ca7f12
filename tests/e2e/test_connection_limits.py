"""Connection limits of `tandem serve` on both ASGI servers (granian and uvicorn), each
a real server process with short limits: an oversized request head answered 431, idle
and keep-alive sockets closed, slow headers cut off, requests over the concurrency cap
answered 503, and event streams over their caps refused.

Timing bounds here are generous on purpose: each says only that the server closed a
socket well before the client would have given up (its own timeout is 20 s)."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.support.server import Server

LIMITS = {
    "TANDEM_MAX_HEAD_BYTES": "16384",
    "TANDEM_HEADER_TIMEOUT": "1",
    "TANDEM_KEEPALIVE_TIMEOUT": "1",
    "TANDEM_MAX_CONCURRENCY": "2",
    "TANDEM_MAX_STREAMS": "3",
    "TANDEM_MAX_STREAMS_PER_CLIENT": "2",
}
CLOSED_WITHIN = 10.0
"""Far above the 1 s limits, far below the client's own timeout."""
CLIENT_TIMEOUT = 20.0


@pytest.fixture(scope="module", params=["granian", "uvicorn"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    root: Path = tmp_path_factory.mktemp(f"limits-{request.param}")
    srv = Server(root / "data", {**LIMITS, "TANDEM_SERVER": request.param})
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def connect(server: Server, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(
        ("127.0.0.1", server.port), timeout=CLIENT_TIMEOUT, source_address=(source, 0)
    )
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body: status, headers, body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
    }
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def closed_after(sock: socket.socket) -> float:
    """Seconds until the server closes `sock` (reading and dropping what it sends)."""
    started = time.monotonic()
    with contextlib.suppress(ConnectionResetError):
        while sock.recv(65536):
            pass
    return time.monotonic() - started


def get(path: str, extra: bytes = b"") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: test\r\n".encode() + extra + b"\r\n"


def test_an_oversized_request_head_is_answered_431(server: Server) -> None:
    with connect(server) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(get("/healthz", b"X-Big: " + b"a" * (1024 * 1024) + b"\r\n"))
        status, _headers, _body = read_response(sock)
    assert status == 431
    with connect(server) as sock:  # the server goes on serving
        sock.sendall(get("/healthz"))
        assert read_response(sock)[0] == 200


def test_idle_and_kept_alive_sockets_are_closed(server: Server) -> None:
    with connect(server) as idle, connect(server) as kept:
        kept.sendall(get("/healthz"))
        assert read_response(kept)[0] == 200
        assert closed_after(idle) < CLOSED_WITHIN
        assert closed_after(kept) < CLOSED_WITHIN


def test_slow_headers_are_cut_off(server: Server) -> None:
    started = time.monotonic()
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while time.monotonic() - started < CLIENT_TIMEOUT:
                sock.sendall(b"X-Slow: 1\r\n")  # a header line every 0.2 s, never the end
                time.sleep(0.2)
        assert time.monotonic() - started < CLOSED_WITHIN
        assert closed_after(sock) < CLOSED_WITHIN


def test_requests_over_the_concurrency_cap_are_answered_503(server: Server) -> None:
    # Two uploads that never finish their bodies hold both slots.
    held = [connect(server), connect(server)]
    try:
        for sock in held:
            sock.sendall(
                b"POST /categories HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n{"
            )
        time.sleep(0.5)  # let the server hand both to the app
        with connect(server) as sock:
            sock.sendall(get("/healthz"))
            status, headers, body = read_response(sock)
        assert status == 503, body
        assert headers["content-type"] == "application/problem+json"
        assert int(headers["retry-after"]) >= 1
        problem = orjson.loads(body)
        assert problem["type"] == "overloaded" and problem["status"] == 503
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + CLOSED_WITHIN
    while True:  # the slots come back once the held requests end
        with connect(server) as sock:
            sock.sendall(get("/healthz"))
            status = read_response(sock)[0]
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status == 200


def open_stream(server: Server, source: str) -> socket.socket:
    sock = connect(server, source)
    sock.sendall(get("/stream/progress"))
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 200"), data
    return sock


def refused_stream(server: Server, source: str) -> tuple[int, dict[str, str], dict[str, object]]:
    with connect(server, source) as sock:
        sock.sendall(get("/stream/progress"))
        status, headers, body = read_response(sock)
    return status, headers, orjson.loads(body)


def test_event_streams_over_their_caps_are_refused(server: Server) -> None:
    streams = [open_stream(server, "127.0.0.1"), open_stream(server, "127.0.0.1")]
    try:
        status, headers, problem = refused_stream(server, "127.0.0.1")
        assert status == 429 and problem["type"] == "too-many-streams"
        assert headers["content-type"] == "application/problem+json" and "retry-after" in headers
        streams.append(open_stream(server, "127.0.0.2"))
        status, headers, problem = refused_stream(server, "127.0.0.3")
        assert status == 503 and problem["type"] == "too-many-streams"
        assert "retry-after" in headers
    finally:
        for sock in streams:
            sock.close()
    deadline = time.monotonic() + CLOSED_WITHIN
    while True:  # closed streams give their slots back
        try:
            open_stream(server, "127.0.0.3").close()
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
