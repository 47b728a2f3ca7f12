"""Request body limit, enforced while streaming so a large body is never buffered."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog.api.problems import Problem, problem_response

MAX_BODY = 64 * 1024
# A refused body is read to its end, up to this much, before the 413 goes out: a server
# that closes a socket with unread data in it resets the connection, and the client may
# lose the answer with it. A larger body is not read: its connection just closes.
DRAIN = 1024 * 1024


class BodyLimit:
    """Answers 413 for bodies over `limit` bytes, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = problem_response(
            Problem(
                413,
                "body-too-large",
                "Body too large",
                f"Bodies are limited to {self.limit} bytes.",
            )
        )
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = self.limit + 1
                if declared > self.limit:
                    if declared <= DRAIN:
                        await _drain(receive, DRAIN)
                    await too_large(scope, receive, send)
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _drain(receive, DRAIN - received)
                await too_large(scope, receive, send)


async def _drain(receive: Receive, budget: int) -> None:
    """Read and drop the rest of the request body, at most `budget` bytes of it."""
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request":
            return
        budget -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class _TooLarge(BaseException):
    pass
