"""`BodyLimit` reads a refused body to its end (up to a bound) before answering 413: a
server closing a socket with unread data resets the connection, and the client can
lose the 413 with it."""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

from catalog.api.limits import DRAIN, BodyLimit

LIMIT = 1000


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    while (await receive()).get("more_body", False):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def _call(chunks: list[bytes], declared: int | None) -> tuple[int, int]:
    """(status answered, chunks left unread)."""
    pending = list(chunks)
    sent: list[Message] = []

    async def receive() -> Message:
        if not pending:
            return {"type": "http.disconnect"}
        body = pending.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    async def send(message: Message) -> None:
        sent.append(message)

    headers = [] if declared is None else [(b"content-length", str(declared).encode())]
    scope: Scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    await BodyLimit(_app, LIMIT)(scope, receive, send)
    return sent[0]["status"], len(pending)


async def test_a_body_declared_too_large_is_read_before_the_413() -> None:
    chunks = [b"x" * 600] * 4
    assert await _call(chunks, declared=2400) == (413, 0)


async def test_a_body_found_too_large_while_streaming_is_read_before_the_413() -> None:
    chunks = [b"x" * 600] * 4
    assert await _call(chunks, declared=None) == (413, 0)


async def test_a_body_declared_larger_than_the_drain_is_not_read() -> None:
    chunks = [b"x" * 600] * 4
    status, left = await _call(chunks, declared=DRAIN + 1)
    assert (status, left) == (413, 4)


async def test_a_body_within_the_limit_reaches_the_app() -> None:
    assert await _call([b"x" * 500, b"y" * 400], declared=900) == (200, 0)
