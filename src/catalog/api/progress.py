"""Projection progress for every `/stream/progress` subscriber, from one task.

Checkpoints are followed on notifications (their watches); rebuild progress, which
has none, is looked at every `poll` seconds. One task per process does both and fans
the frames out to the subscribers' queues, whatever their number: it starts with the
first subscriber and stops when the last one leaves. A queue keeps only the most recent
frames (`BACKLOG`), so a slow subscriber misses intermediate versions instead of
holding anything up.

Usage::

    progress = ProgressBroadcast(catalog)
    queue = progress.subscribe()      # the current state first, then each change
    try:
        frame = await queue.get()
    finally:
        progress.unsubscribe(queue)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson
from typing_extensions import TypedDict

from catalog.api.sse import frame
from catalog.runtime.contract import Runtime
from tandem.consistency import VersionWatch

log = logging.getLogger("catalog.api")

POLL = 0.25
BACKLOG = 64
END = b""
"""Queued when the task stopped on an error: the subscriber's stream ends there."""


class ProgressEvent(TypedDict):
    """The data of `event: progress`: one read model's checkpoint and the log head."""

    projection: str
    checkpoint: int
    head: int


def progress_frame(catalog: Runtime, name: str) -> bytes:
    """`event: progress` with one read model's checkpoint and the log head."""
    checkpoint = catalog.read_models[name].tracked.checkpoint.value
    body: ProgressEvent = {"projection": name, "checkpoint": checkpoint, "head": catalog.head.value}
    return frame("progress", orjson.dumps(body), checkpoint)


class Rebuilds:
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
                frames.append(frame("rebuild", orjson.dumps(body)))
        return frames


class Checkpoints:
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


class ProgressBroadcast:
    """One task following progress for every subscriber of this process."""

    def __init__(self, catalog: Runtime, poll: float = POLL) -> None:
        self._catalog = catalog
        self.poll = poll
        self.looks = 0
        """How many times the task has looked at rebuilds (once per `poll` at most,
        or when a checkpoint moved)."""
        self._subscribers: set[asyncio.Queue[bytes]] = set()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def subscribe(self) -> asyncio.Queue[bytes]:
        """A queue holding the current progress of every read model and rebuild, then
        each change as the task sees it."""
        if self._task is None or self._task.done():
            # Listening starts before the current state is read: no advance between
            # the two is lost.
            checkpoints = Checkpoints(self._catalog)
            checkpoints.follow()
            rebuilds = Rebuilds(self._catalog)
            rebuilds.frames()  # what every subscriber gets first is no change
            self._task = asyncio.create_task(self._run(checkpoints, rebuilds))
        queue: asyncio.Queue[bytes] = asyncio.Queue(BACKLOG)
        catalog = self._catalog
        current = [progress_frame(catalog, n) for n in catalog.read_models]
        queue.put_nowait(b"".join(current + Rebuilds(catalog).frames()))
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[bytes]) -> None:
        self._subscribers.discard(queue)
        if not self._subscribers and self._task is not None:
            self._task.cancel()
            self._task = None

    async def aclose(self) -> None:
        """Stop the task (at shutdown), whoever still listens."""
        task, self._task = self._task, None
        self._subscribers.clear()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, checkpoints: Checkpoints, rebuilds: Rebuilds) -> None:
        try:
            while True:
                advanced = await checkpoints.advanced(self.poll)
                self.looks += 1
                checkpoints.follow()
                frames = [progress_frame(self._catalog, n) for n in advanced]
                frames += rebuilds.frames()
                if frames:
                    self._publish(b"".join(frames))
        except Exception:
            # Every stream ends (`END`), so its client reconnects, and the first of
            # them starts a new task.
            log.exception("progress broadcast stopped")
            self._publish(END)
        finally:
            checkpoints.close()

    def _publish(self, data: bytes) -> None:
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()  # the oldest goes: later frames supersede it
            queue.put_nowait(data)
