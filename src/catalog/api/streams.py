"""Push over server-sent events: projection progress, rebuilds and live product documents.

Checkpoints and products are pushed on notifications (checkpoint watches, the product
feed); rebuild progress, which has none, is read a few times a second. Queues keep only
recent values, so a slow client misses intermediate versions instead of holding
anything up, and a disconnect cancels the stream, which unsubscribes it.
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
from catalog.read_models.queries import GetProduct
from catalog.runtime.contract import Runtime
from tandem.consistency import VersionWatch

router = APIRouter(tags=["push"])

HEARTBEAT = 15.0
REBUILD_POLL = 0.25
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _event(kind: str, data: bytes, id: int | None = None) -> bytes:
    head = f"event: {kind}\n" + (f"id: {id}\n" if id is not None else "")
    return head.encode() + b"data: " + data + b"\n\n"


def _progress(catalog: Runtime, name: str) -> bytes:
    checkpoint = catalog.read_models[name].tracked.checkpoint.value
    body = {"projection": name, "checkpoint": checkpoint, "head": catalog.head.value}
    return _event("progress", orjson.dumps(body), checkpoint)


class _Rebuilds:
    """`event: rebuild` frames for each rebuild whose progress changed since the last look
    (its rate alone changes with every look, so it is left out of the comparison)."""

    def __init__(self, catalog: Any) -> None:
        self._catalog = catalog
        self._sent: dict[str, dict[str, Any]] = {}

    def frames(self) -> list[bytes]:
        frames = []
        for rebuild in list(self._catalog.rebuilds.values()):
            body: dict[str, Any] = rebuild.describe()
            progress = {k: v for k, v in body.items() if k != "events_per_s"}
            if self._sent.get(body["projection"]) != progress:
                self._sent[body["projection"]] = progress
                frames.append(_event("rebuild", orjson.dumps(body)))
        return frames


class _Checkpoints:
    """A listener on each read model's checkpoint; a rebuild's switch replaces a read
    model's checkpoint, and `follow` moves the listener to the new one."""

    def __init__(self, catalog: Runtime) -> None:
        self._catalog = catalog
        self._held: dict[str, tuple[VersionWatch, asyncio.Queue[int]]] = {}
        self._waiting: dict[str, asyncio.Future[int]] = {}

    def follow(self) -> None:
        for name, running in self._catalog.read_models.items():
            watch = running.tracked.checkpoint
            held = self._held.get(name)
            if held is not None and held[0] is watch:
                continue
            if held is not None:
                held[0].unlisten(held[1])
                waiting = self._waiting.pop(name, None)
                if waiting is not None:
                    waiting.cancel()
            self._held[name] = (watch, watch.listen())

    async def advanced(self, timeout: float) -> list[str]:
        """The read models whose checkpoint advanced, waiting up to `timeout` for one."""
        for name, (_watch, queue) in self._held.items():
            if name not in self._waiting:
                self._waiting[name] = asyncio.ensure_future(queue.get())
        if not self._waiting:
            await asyncio.sleep(timeout)
            return []
        done, _ = await asyncio.wait(
            self._waiting.values(), timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        names = [name for name, future in self._waiting.items() if future in done]
        for name in names:
            del self._waiting[name]
        return names

    def close(self) -> None:
        for future in self._waiting.values():
            future.cancel()
        for watch, queue in self._held.values():
            watch.unlisten(queue)


@router.get("/stream/progress", name="stream_progress")
async def progress(request: Request) -> StreamingResponse:
    """`event: progress` with `{"projection","checkpoint","head"}` as checkpoints advance;
    `event: rebuild` with a rebuild's progress (as `GET /admin/projections/{name}/rebuild`
    answers it) whenever it changes, up to its final state."""
    catalog: Runtime = request.app.state.catalog

    async def events() -> AsyncIterator[bytes]:
        checkpoints = _Checkpoints(catalog)
        rebuilds = _Rebuilds(catalog)
        loop = asyncio.get_running_loop()
        try:
            checkpoints.follow()
            yield b"".join(
                [*(_progress(catalog, n) for n in catalog.read_models), *rebuilds.frames()]
            )
            sent = loop.time()
            while True:
                advanced = await checkpoints.advanced(REBUILD_POLL)
                checkpoints.follow()
                frames = [_progress(catalog, name) for name in advanced] + rebuilds.frames()
                if frames:
                    yield b"".join(frames)
                    sent = loop.time()
                elif loop.time() - sent >= HEARTBEAT:
                    yield b": keep-alive\n\n"
                    sent = loop.time()
        finally:
            checkpoints.close()

    return StreamingResponse(events(), media_type="text/event-stream", headers=HEADERS)


@router.get("/stream/products/{product_id}", name="stream_product")
async def product(request: Request, product_id: UUID) -> StreamingResponse:
    """The current product detail (at or after the session's version, like any query),
    then each new version as its projection applies it."""
    catalog: Runtime = request.app.state.catalog
    pid = str(product_id)
    feed = catalog.product_feed
    # Subscribe before the first read, so no change can fall between the two.
    queue = feed.subscribe(pid)
    try:
        # The first document honours the session and `min_version` like any query.
        min_version, timeout = await read_requirements(request, catalog.sessions)
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
