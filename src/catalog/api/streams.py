"""Push over server-sent events: projection progress, rebuilds and live product documents.

Progress comes from the process's one `ProgressBroadcast`; products are pushed on the
product feed's notifications. Queues keep only recent values, so a slow client misses
intermediate versions instead of holding anything up, and a disconnect cancels the
stream, which unsubscribes it and gives its slot back (`StreamSlots`: streams are
capped per process and per client).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Request
from starlette.responses import StreamingResponse

from catalog.api.edge import read_requirements
from catalog.api.progress import END, ProgressBroadcast
from catalog.api.sse import HEADERS, HEARTBEAT, KEEP_ALIVE, frame
from catalog.api.stream_slots import StreamSlots
from catalog.read_models.queries import GetProduct
from catalog.runtime.contract import Runtime

router = APIRouter(tags=["push"])


def _slot(request: Request) -> Callable[[], None]:
    """A stream slot for the request's client (see `StreamSlots`), or a refusal."""
    slots: StreamSlots = request.app.state.stream_slots
    return slots.take(request.client.host if request.client else "")


def _once(*steps: Callable[[], object]) -> Callable[[], None]:
    """A function that runs `steps` the first time it is called, and nothing after."""
    pending = list(steps)

    def run() -> None:
        while pending:
            pending.pop(0)()

    return run


def _respond(events: AsyncIterator[bytes], close: Callable[[], None]) -> StreamingResponse:
    # A stream whose response never started never runs its `finally`: `close` then
    # runs when the generator is collected.
    weakref.finalize(events, close)
    return StreamingResponse(events, media_type="text/event-stream", headers=HEADERS)


@router.get("/stream/progress", name="stream_progress")
async def progress(request: Request) -> StreamingResponse:
    """`event: progress` with `{"projection","checkpoint","head"}` as checkpoints advance;
    `event: rebuild` with a rebuild's progress (as `GET /admin/projections/{name}/rebuild`
    answers it) whenever it changes, up to its final state."""
    broadcast: ProgressBroadcast = request.app.state.progress
    release = _slot(request)
    try:
        queue = broadcast.subscribe()
    except BaseException:
        release()
        raise
    close = _once(lambda: broadcast.unsubscribe(queue), release)

    async def events() -> AsyncIterator[bytes]:
        try:
            while True:
                try:
                    async with asyncio.timeout(HEARTBEAT):
                        data = await queue.get()
                except TimeoutError:
                    yield KEEP_ALIVE
                    continue
                if data == END:
                    return
                yield data
        finally:
            close()

    return _respond(events(), close)


@router.get("/stream/products/{product_id}", name="stream_product")
async def product(request: Request, product_id: UUID) -> StreamingResponse:
    """The current product detail (at or after the session's version, like any query),
    then each new version as its projection applies it."""
    catalog: Runtime = request.app.state.catalog
    pid = str(product_id)
    feed = catalog.product_feed
    release = _slot(request)
    try:
        # Subscribe before the first read, so no change can fall between the two.
        queue = feed.subscribe(pid)
    except BaseException:
        release()
        raise
    try:
        # The first document honours the session and `min_version` like any query. Not
        # `strong`: the changes that follow come from the read model, which may be
        # behind the write database, and a stream never goes back in time.
        min_version, timeout = await read_requirements(request, catalog.sessions, strong=False)
        first = await catalog.query_bus.ask(
            GetProduct(product_id=pid), min_version=min_version, timeout=timeout
        )
    except BaseException:
        feed.unsubscribe(pid, queue)
        release()
        raise
    initial: dict[str, Any] = first.value
    close = _once(lambda: feed.unsubscribe(pid, queue), release)

    async def events() -> AsyncIterator[bytes]:
        try:
            last = orjson.dumps(initial)
            yield frame("product", last, first.read_version)
            while True:
                try:
                    async with asyncio.timeout(HEARTBEAT):
                        position, doc = await queue.get()
                except TimeoutError:
                    yield KEEP_ALIVE
                    continue
                if doc != last:  # the first read may already show this change
                    last = doc
                    yield frame("product", doc, position)
        finally:
            close()

    return _respond(events(), close)
