"""uvicorn's httptools protocol with the limits uvicorn lacks: a bound on the request
head and on the time to read it.

uvicorn bounds neither with httptools (h11 bounds the head, but answers 400, and is
slower): a client could send megabytes of headers, or one header line every few
seconds, or connect and send nothing, and keep its socket for as long as it liked.
Here a head over `TANDEM_MAX_HEAD_BYTES` is answered 431 (a problem document) and the
connection closed, and a connection that has not sent a whole head within
`TANDEM_HEADER_TIMEOUT` of connecting, or of starting its next request, is closed.
Between requests, uvicorn's own keep-alive timeout (`TANDEM_KEEPALIVE_TIMEOUT`)
applies.

The limits come from the environment (`Settings.from_env`) because uvicorn's worker
processes get the protocol class, not an instance.
"""

from __future__ import annotations

import asyncio
import functools

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from catalog.settings import Settings


@functools.cache
def _limits() -> tuple[int, float]:
    settings = Settings.from_env()
    return settings.max_head_bytes, settings.header_timeout


@functools.cache
def _too_large(limit: int) -> bytes:
    body = orjson.dumps(
        {
            "type": "head-too-large",
            "title": "Request head too large",
            "status": 431,
            "detail": f"Request heads (request line and headers) are limited to {limit} bytes.",
        }
    )
    return (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
        b"content-type: application/problem+json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n"
        b"connection: close\r\n\r\n" + body
    )


class LimitedHttpTools(HttpToolsProtocol):
    """`HttpToolsProtocol` that bounds the size of a request head and the time to read it."""

    _in_head = False
    _head_bytes = 0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        limit, _ = _limits()
        if self._in_head and self._head_bytes > limit and not self.transport.is_closing():
            self._stop_head_timer()
            self.transport.write(_too_large(limit))
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_head:
            self._start_head()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._stop_head_timer()
        super().on_headers_complete()

    def _start_head(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        self._stop_head_timer()
        self._head_timer = self.loop.call_later(_limits()[1], self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self.transport.close()
