"""A cap on the requests one process handles at once: over it, 503 at once.

Without it a burst queues without bound inside the process (each waiting request
holds memory and, past the client's timeout, does work nobody waits for). Over the
cap a request is answered 503 `overloaded` with `Retry-After`, before any routing.
Event streams (`/stream/…`) live long and have caps of their own (`StreamSlots`), so
they are not counted here.

The check is a comparison and two integer updates per request: it sits in front of
the hot read and command paths.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from catalog.api.problems import Problem, problem_response

STREAMS = "/stream/"


class ConcurrencyCap:
    """Answers 503 to HTTP requests beyond `limit` in progress in this process."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.active = 0
        self._busy = problem_response(
            Problem(
                503,
                "overloaded",
                "Server overloaded",
                f"This server is handling its limit of {limit} requests; retry shortly.",
                headers={"Retry-After": "1"},
            )
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(STREAMS):
            await self.app(scope, receive, send)
            return
        if self.active >= self.limit:
            await self._busy(scope, receive, send)
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1
