"""A round-robin balancer that survives the death of an API process.

It stands where a production load balancer would: a request whose backend refuses the
connection goes to the next backend (nothing was sent, so it is safe to resend); a
request whose backend dies while answering gets 503 with `Retry-After` and
`X-Balancer: backend-lost`, as a balancer answers when an upstream connection breaks
(the client retries a command with its `Idempotency-Key`). Responses are buffered: the
chaos workload sends no streaming requests.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence

import httpx
import uvicorn
from starlette.types import Receive, Scope, Send

HOP_BY_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"te", b"upgrade", b"host"}
LOST = b"backend-lost"


class FailoverBalancer:
    def __init__(self, backends: Sequence[str]) -> None:
        self.backends = list(backends)
        self._next = itertools.cycle(range(len(self.backends)))
        self._client: httpx.AsyncClient | None = None
        self.lost = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            if self._client is not None:
                await self._client.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(60, connect=2))
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = scope["query_string"].decode()
        path = scope["raw_path"].decode() + (f"?{query}" if query else "")
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in HOP_BY_HOP]
        first = next(self._next)
        for i in range(len(self.backends)):
            backend = self.backends[(first + i) % len(self.backends)]
            try:
                response = await self._client.request(
                    scope["method"], backend + path, headers=headers, content=body
                )
            except httpx.ConnectError:
                continue
            except httpx.TransportError:
                break
            out = [
                (k, v)
                for k, v in response.headers.raw
                if k.lower() not in HOP_BY_HOP and k.lower() != b"content-length"
            ]
            await send(
                {"type": "http.response.start", "status": response.status_code, "headers": out}
            )
            await send({"type": "http.response.body", "body": response.content})
            return
        self.lost += 1
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [(b"retry-after", b"1"), (b"x-balancer", LOST)],
            }
        )
        await send({"type": "http.response.body", "body": b""})


class BalancerThread:
    """The balancer served by uvicorn on a thread of the test process."""

    def __init__(self, port: int, backends: Sequence[str]) -> None:
        self.app = FailoverBalancer(backends)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the balancer did not start")
            threading.Event().wait(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
