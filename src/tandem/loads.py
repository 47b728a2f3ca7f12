"""Reads of the store that concurrent misses of one key share.

When a change makes a cache forget a popular entry, every read of it misses until the
next answer is in, and each would ask the store for the same thing. `Loads` lets them
wait for one read instead: a miss joins the load of its key already under way when that
load asked for at least the version the miss needs (what it returns then holds at that
version too); otherwise it starts its own, which later misses may join.

A load runs as a task of its own, so a reader that goes away (a client that
disconnects) leaves it to finish for the others; a load that fails sends each reader
that joined it to read for itself.

Single-threaded: meant for one event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Loads(Generic[K, V]):
    """Loads under way, by key: the version each asked for, and its outcome.

    >>> loads: Loads[str, bytes] = Loads()
    >>> await loads.load("p1", 0, lambda: read_from_store("p1"))  # doctest: +SKIP
    """

    def __init__(self) -> None:
        self._under_way: dict[K, tuple[int, asyncio.Future[V]]] = {}

    def __len__(self) -> int:
        return len(self._under_way)

    async def load(self, key: K, min_version: int, read: Callable[[], Awaitable[V]]) -> V:
        """The outcome of the load of `key` under way, if it asked for `min_version` or
        more; else of `read()`, started now."""
        joined = self._under_way.get(key)
        if joined is not None and joined[0] >= min_version:
            try:
                return await asyncio.shield(joined[1])
            except asyncio.CancelledError:
                if not joined[1].cancelled():
                    raise  # this reader was cancelled, not the load
            except Exception:
                pass  # that load failed: this reader reads for itself
        started = asyncio.ensure_future(read())
        if joined is None or joined[1].done():
            self._under_way[key] = (min_version, started)
            started.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(started)

    def _finished(self, key: K, load: asyncio.Future[V]) -> None:
        under_way = self._under_way.get(key)
        if under_way is not None and under_way[1] is load:
            del self._under_way[key]
        if not load.cancelled():
            load.exception()  # retrieved: each reader that awaited it has it
