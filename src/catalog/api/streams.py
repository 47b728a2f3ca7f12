"""Push over server-sent events: projection progress and live product documents.

Both streams wait on notifications (checkpoint watches, the product feed); none polls.
Queues keep only recent values, so a slow client misses intermediate versions instead
of holding anything up, and a disconnect cancels the stream, which unsubscribes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Request
from starlette.responses import StreamingResponse

from catalog.api.edge import read_requirements
from catalog.bootstrap import Catalog
from catalog.read.queries import GetProduct

router = APIRouter(tags=["push"])

HEARTBEAT = 15.0
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _event(kind: str, data: bytes, id: int | None = None) -> bytes:
    head = f"event: {kind}\n" + (f"id: {id}\n" if id is not None else "")
    return head.encode() + b"data: " + data + b"\n\n"


def _progress(catalog: Catalog, name: str) -> bytes:
    checkpoint = catalog.read_models[name].tracked.checkpoint.value
    body = {"projection": name, "checkpoint": checkpoint, "head": catalog.head.value}
    return _event("progress", orjson.dumps(body), checkpoint)


@router.get("/stream/progress")
async def progress(request: Request) -> StreamingResponse:
    """`event: progress` with `{"projection","checkpoint","head"}` as checkpoints advance."""
    catalog: Catalog = request.app.state.catalog

    async def events() -> AsyncIterator[bytes]:
        listeners = {
            name: running.tracked.checkpoint.listen()
            for name, running in catalog.read_models.items()
        }
        waiting: dict[asyncio.Future[int], str] = {}
        try:
            for name in listeners:
                yield _progress(catalog, name)
            while True:
                for name, queue in listeners.items():
                    if name not in waiting.values():
                        waiting[asyncio.ensure_future(queue.get())] = name
                done, _ = await asyncio.wait(
                    waiting, timeout=HEARTBEAT, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    yield b": keep-alive\n\n"
                for future in done:
                    yield _progress(catalog, waiting.pop(future))
        finally:
            for future in waiting:
                future.cancel()
            for name, queue in listeners.items():
                catalog.read_models[name].tracked.checkpoint.unlisten(queue)

    return StreamingResponse(events(), media_type="text/event-stream", headers=HEADERS)


@router.get("/stream/products/{product_id}")
async def product(request: Request, product_id: UUID) -> StreamingResponse:
    """The current product detail (at or after the session's version, like any query),
    then each new version as its projection applies it."""
    catalog: Catalog = request.app.state.catalog
    pid = str(product_id)
    feed = catalog.product_feed
    # Subscribe before the first read, so no change can fall between the two.
    queue = feed.subscribe(pid)
    try:
        # The first document honours the session and `min_version` like any query.
        min_version, timeout = read_requirements(request)
        first = await catalog.query_bus.ask(
            GetProduct(product_id=pid), min_version=min_version, timeout=timeout
        )
    except BaseException:
        feed.unsubscribe(pid, queue)
        raise
    initial: dict[str, Any] = first.value

    async def events() -> AsyncIterator[bytes]:
        try:
            last = orjson.dumps(initial)
            yield _event("product", last, first.read_version)
            while True:
                try:
                    async with asyncio.timeout(HEARTBEAT):
                        position, doc = await queue.get()
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if doc != last:  # the first read may already show this change
                    last = doc
                    yield _event("product", doc, position)
        finally:
            feed.unsubscribe(pid, queue)

    return StreamingResponse(events(), media_type="text/event-stream", headers=HEADERS)
