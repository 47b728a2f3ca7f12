"""`/stream/progress` for many subscribers: one look at the rebuilds per interval for
the whole process (not one per connection), every subscriber sent every change, and
nothing left running once the last subscriber has gone."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, ValuesView
from types import SimpleNamespace
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

from catalog.api import streams
from catalog.api.progress import POLL, ProgressBroadcast
from catalog.api.stream_slots import StreamSlots
from tandem.consistency import VersionWatch

SUBSCRIBERS = 20
WINDOW = 1.0


class CountingRebuilds(dict[str, Any]):
    """The rebuilds of a catalog, counting every look at them."""

    looks = 0

    def values(self) -> ValuesView[Any]:
        self.looks += 1
        return super().values()


class Rebuild:
    def describe(self) -> dict[str, Any]:
        return {"projection": "search", "state": "running", "percent": 10}


def catalog() -> SimpleNamespace:
    checkpoint = VersionWatch(0)
    return SimpleNamespace(
        read_models={"search": SimpleNamespace(tracked=SimpleNamespace(checkpoint=checkpoint))},
        head=VersionWatch(0),
        rebuilds=CountingRebuilds(search=Rebuild()),
        checkpoint=checkpoint,
    )


def app_of(cat: SimpleNamespace) -> SimpleNamespace:
    state = SimpleNamespace(
        catalog=cat,
        progress=ProgressBroadcast(cat),  # type: ignore[arg-type]
        stream_slots=StreamSlots(1000, 1000),
    )
    return SimpleNamespace(state=state)


async def subscribe(app: SimpleNamespace, n: int) -> StreamingResponse:
    scope = {
        "type": "http",
        "app": app,
        "method": "GET",
        "path": "/stream/progress",
        "headers": [],
        "query_string": b"",
        "client": (f"10.0.0.{n}", 1000 + n),
    }
    return await streams.progress(Request(scope))


async def collect(response: StreamingResponse, into: list[bytes]) -> None:
    body: AsyncIterator[Any] = response.body_iterator
    try:
        async for chunk in body:
            into.append(chunk if isinstance(chunk, bytes) else chunk.encode())
    finally:
        await body.aclose()  # type: ignore[attr-defined]


async def test_many_subscribers_share_one_look_per_interval_and_get_every_change() -> None:
    cat = catalog()
    app = app_of(cat)
    received: list[list[bytes]] = [[] for _ in range(SUBSCRIBERS)]
    responses = [await subscribe(app, n) for n in range(SUBSCRIBERS)]
    tasks = [
        asyncio.create_task(collect(r, into)) for r, into in zip(responses, received, strict=True)
    ]
    try:
        await asyncio.sleep(WINDOW / 2)
        cat.checkpoint.advance(7)
        await asyncio.sleep(WINDOW / 2)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    # Each subscriber's first frames read the rebuilds once; after that one task looks
    # once per interval (or when a checkpoint moves), whatever the number of subscribers.
    assert cat.rebuilds.looks <= SUBSCRIBERS + 2 * (WINDOW / POLL) + 4, cat.rebuilds.looks
    for frames in received:
        text = b"".join(frames)
        assert b'"checkpoint":0' in text and b"event: rebuild" in text
        assert b'"checkpoint":7' in text, "every subscriber is sent the change"


async def test_the_task_stops_when_the_last_subscriber_leaves() -> None:
    cat = catalog()
    app = app_of(cat)
    broadcast: ProgressBroadcast = app.state.progress
    for _round in range(2):
        received: list[bytes] = []
        tasks = [asyncio.create_task(collect(await subscribe(app, n), received)) for n in (1, 2)]
        await asyncio.sleep(POLL * 2)
        assert broadcast.running
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert not broadcast.running
        assert app.state.stream_slots.open == 0
        looks = cat.rebuilds.looks
        await asyncio.sleep(POLL * 3)
        assert cat.rebuilds.looks == looks, "nobody listens: nobody looks"


class BrokenRebuild:
    """A rebuild whose progress cannot be read (once `broken`)."""

    broken = False

    def describe(self) -> dict[str, Any]:
        if self.broken:
            raise RuntimeError("cannot describe")
        return {"projection": "search", "state": "running", "percent": 10}


async def test_a_stopped_task_ends_every_stream_and_the_next_subscriber_starts_another() -> None:
    cat = catalog()
    rebuild = BrokenRebuild()
    cat.rebuilds["search"] = rebuild
    app = app_of(cat)
    received: list[bytes] = []
    ended = asyncio.create_task(collect(await subscribe(app, 1), received))
    rebuild.broken = True
    await asyncio.wait_for(ended, timeout=10)  # the stream ends instead of going quiet
    assert app.state.stream_slots.open == 0
    rebuild.broken = False
    again: list[bytes] = []
    task = asyncio.create_task(collect(await subscribe(app, 2), again))
    await asyncio.sleep(POLL * 2)
    assert app.state.progress.running
    cat.checkpoint.advance(3)
    await asyncio.sleep(POLL * 2)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert b'"checkpoint":3' in b"".join(again)
