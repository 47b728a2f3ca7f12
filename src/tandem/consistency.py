"""Versions and waiting for them.

A `VersionWatch` holds a monotonically increasing integer (a log head or a projection
checkpoint) and wakes exactly the waiters whose target it has reached: no polling, and
no thundering herd when thousands of requests wait for different versions.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools


class VersionWatch:
    """A monotonically increasing version that coroutines can wait on.

    >>> watch = VersionWatch(0)
    >>> watch.advance(5)
    >>> watch.value
    5
    """

    def __init__(self, value: int = 0) -> None:
        self._value = value
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._listeners: list[asyncio.Queue[int]] = []

    @property
    def value(self) -> int:
        return self._value

    def advance(self, value: int) -> None:
        """Raise the version to `value` (lower values are ignored) and wake waiters."""
        if value <= self._value:
            return
        self._value = value
        waiters = self._waiters
        while waiters and waiters[0][0] <= value:
            _, _, fut = heapq.heappop(waiters)
            if not fut.done():
                fut.set_result(None)
        for queue in self._listeners:
            if queue.full():
                # A slow listener only ever needs the newest value.
                queue.get_nowait()
            queue.put_nowait(value)

    async def wait_for(self, target: int, timeout: float | None = None) -> bool:
        """Wait until the version is at least `target`; False if the timeout passed first."""
        if self._value >= target:
            return True
        if timeout is not None and timeout <= 0:
            return False
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (target, next(self._seq), fut))
        try:
            # asyncio.timeout, not asyncio.wait_for: on Python 3.11 wait_for can swallow
            # a cancellation that lands as the future completes, and a task that never
            # sees its cancellation never stops.
            async with asyncio.timeout(timeout):
                await fut
        except TimeoutError:
            return self._value >= target
        finally:
            if not fut.done():
                fut.cancel()
                self._forget_cancelled()
        return True

    def _forget_cancelled(self) -> None:
        if len(self._waiters) > 64 and sum(w[2].done() for w in self._waiters) * 2 > len(
            self._waiters
        ):
            self._waiters = [w for w in self._waiters if not w[2].done()]
            heapq.heapify(self._waiters)

    def listen(self) -> asyncio.Queue[int]:
        """A queue that receives the newest value after each advance (size one)."""
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
        self._listeners.append(queue)
        return queue

    def unlisten(self, queue: asyncio.Queue[int]) -> None:
        if queue in self._listeners:
            self._listeners.remove(queue)


async def follow(source: VersionWatch, target: VersionWatch) -> None:
    """Advance `target` with `source` until cancelled: a replaced copy's checkpoint kept
    moving with its replacement's, so a query that began waiting on the old copy before
    a switch still wakes."""
    target.advance(source.value)
    advanced = source.listen()
    try:
        while True:
            target.advance(await advanced.get())
    finally:
        source.unlisten(advanced)
