"""One read of the event log for every runner of a process.

Runners in one process follow the same log, usually a few events apart: a commit wakes
them all, and each reads after its own checkpoint. `SharedReads` gives them one query
for many: reads after one position that overlap in time share one query, and a read
after a position the last batch passed is answered from that batch.

Answering from an earlier batch is safe because of what the log guarantees: a read
after N returns every event after N up to the reader's horizon, and the positions a
reader can see only ever grow at their end. The part of an earlier batch after a later
position is therefore exactly what a read after that position returned then: a prefix
of what it would return now. It is given only where it says what a query would: it
holds the whole limit asked for, or the earlier batch reached the end of the log (a
runner takes a short batch for the end of the log, and is live there).
"""

from __future__ import annotations

import asyncio
import bisect

from tandem.eventlog.base import EventLogReader
from tandem.messages import StoredEvent


class SharedReads:
    """An `EventLogReader` over `reader` whose runners share its reads."""

    def __init__(self, reader: EventLogReader) -> None:
        self._reader = reader
        self._pending: dict[tuple[int, int], asyncio.Future[list[StoredEvent]]] = {}
        # The batch read furthest into the log: the position it was read after, its
        # events and their positions, and whether it reached the end of the log.
        self._after = 0
        self._batch: list[StoredEvent] = []
        self._positions: list[int] = []
        self._to_the_end = False
        self.queries = 0

    async def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        if self._after <= position and self._positions and position < self._positions[-1]:
            start = bisect.bisect_right(self._positions, position)
            if self._to_the_end or len(self._positions) - start >= limit:
                return self._batch[start : start + limit]
        key = (position, limit)
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._read(position, limit))
            self._pending[key] = pending
            pending.add_done_callback(lambda done: self._settled(key, done))
        # A reader that is cancelled leaves the query to the others waiting on it.
        return await asyncio.shield(pending)

    def _settled(self, key: tuple[int, int], done: asyncio.Future[list[StoredEvent]]) -> None:
        self._pending.pop(key, None)
        if not done.cancelled():
            done.exception()  # retrieved, even if every reader waiting on it was cancelled

    async def _read(self, position: int, limit: int) -> list[StoredEvent]:
        self.queries += 1
        events = await self._reader.read_after(position, limit)
        if events and events[-1].position >= (self._positions[-1] if self._positions else 0):
            self._after = position
            self._batch = events
            self._positions = [e.position for e in events]
            self._to_the_end = len(events) < limit
        return events

    async def head(self) -> int:
        return await self._reader.head()
