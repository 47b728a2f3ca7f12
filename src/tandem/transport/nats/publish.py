"""Pipelined JetStream publishes: send many, then collect every ack, in send order.

Why not nats-py's `publish_async`: in nats-py 2.16 a refused publish (HTTP-style code
400, e.g. "wrong last msg ID") raises inside the library's reply callback instead of
failing the future, so the future never completes and the caller only learns of the
conflict by timing out. The relay's whole concurrency story rests on seeing refusals
at once, so it gets its own small reply inbox: each publish carries a reply subject,
the server answers each in order on it, and every answer — ack, duplicate or refusal —
completes its future.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription


@dataclass(frozen=True)
class Stored:
    """The server stored the message (or had it already, when `duplicate`)."""

    seq: int
    duplicate: bool


@dataclass(frozen=True)
class Refused:
    """The server did not store the message; `code` is JetStream's `err_code`."""

    code: int
    description: str


PublishResult = Stored | Refused


class PipelinedPublisher:
    """Publishes to JetStream without waiting between messages.

    Messages go out on one connection in call order, and the server applies them to
    the stream in that order, so conditional headers chained across a batch hold.
    """

    def __init__(self, nc: Client) -> None:
        self._nc = nc
        self._prefix = ""
        self._tokens = itertools.count()
        self._pending: dict[str, asyncio.Future[PublishResult]] = {}
        self._sub: Subscription | None = None

    async def publish(
        self, subject: str, payload: bytes, headers: dict[str, str]
    ) -> asyncio.Future[PublishResult]:
        """Send one message; the future completes with the server's answer."""
        if self._sub is None:
            self._prefix = self._nc.new_inbox()
            self._sub = await self._nc.subscribe(f"{self._prefix}.*", cb=self._on_reply)
        token = str(next(self._tokens))
        future: asyncio.Future[PublishResult] = asyncio.get_running_loop().create_future()
        self._pending[token] = future
        future.add_done_callback(lambda _: self._pending.pop(token, None))
        await self._nc.publish(subject, payload, reply=f"{self._prefix}.{token}", headers=headers)
        return future

    async def close(self) -> None:
        for future in list(self._pending.values()):
            future.cancel()
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def _on_reply(self, msg: Msg) -> None:
        future = self._pending.get(msg.subject.rsplit(".", 1)[-1])
        if future is not None and not future.done():
            future.set_result(_parse(msg))


def _parse(msg: Msg) -> PublishResult:
    headers = msg.headers or {}
    status = headers.get("Status")
    if status:  # 503: no stream listens on the subject
        return Refused(int(status) if status.isdigit() else 0, headers.get("Description", ""))
    try:
        answer = orjson.loads(msg.data)
    except orjson.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict):
        return Refused(0, f"unreadable answer: {msg.data[:100]!r}")
    error = answer.get("error")
    if isinstance(error, dict):
        return Refused(int(error.get("err_code", 0)), str(error.get("description", "")))
    return Stored(int(answer["seq"]), bool(answer.get("duplicate", False)))
