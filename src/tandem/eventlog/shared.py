"""One read of the event log for every runner of a process.

Runners in one process follow the same log: a commit wakes them all, and each reads
after its own checkpoint. Caught up, they read a few events apart; catching up, they go
at their projections' speeds, and the ones behind read what the first one read a moment
before. `SharedReads` gives them one query for many: reads after one position that
overlap in time share one query, and a read after a position the recent reads passed is
answered from what they returned. Decoding the events read is a fifth to a third of a
runner's work while it catches up, so a worker folding seven read models from one read
instead of seven spends that once.

Answering from earlier reads is safe because of what the log guarantees: a read after N
returns every event after N up to the reader's horizon, and the positions a reader can
see only ever grow at their end. The reads are kept as one window of consecutive
events: a read after the window's last event, or after a position inside it, extends
it, so the window holds every event after its start up to its end, exactly what a read
after its start would have returned then. The part of it after a later position is
therefore a prefix of what a read after that position would return now. It is given
only where it says what a query would: it holds the whole limit asked for, or the read
that ended the window reached the end of the log (a runner takes a short batch for the
end of the log, and is live there).

The window keeps at most `keep` events, the newest: about 2 KB each, so a worker's
40 MB for `keep=20_000`, and only while it catches up. Once a read reaches the end of
the log, runners read a few events apart, and the window keeps `LIVE_KEEP`.
"""

from __future__ import annotations

import asyncio
import bisect

from tandem.eventlog.base import EventLogReader
from tandem.messages import StoredEvent

# Events a window keeps by default while its reads are behind the log: about two of a
# runner's largest batches; and once a read has reached the end of the log.
KEEP = 8_000
LIVE_KEEP = 1_000


class SharedReads:
    """An `EventLogReader` over `reader` whose runners share its reads."""

    def __init__(self, reader: EventLogReader, *, keep: int = KEEP) -> None:
        self._reader = reader
        self.keep = keep
        self._pending: dict[tuple[int, int], asyncio.Future[list[StoredEvent]]] = {}
        # The window: the position it starts after, its events and their positions, and
        # whether the read that ended it reached the end of the log.
        self._after = 0
        self._events: list[StoredEvent] = []
        self._positions: list[int] = []
        self._to_the_end = False
        self.queries = 0

    async def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        if self._after <= position and self._positions and position < self._positions[-1]:
            start = bisect.bisect_right(self._positions, position)
            if self._to_the_end or len(self._positions) - start >= limit:
                return self._events[start : start + limit]
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
        if events:
            self._keep(position, events, len(events) < limit)
        return events

    def _keep(self, position: int, events: list[StoredEvent], to_the_end: bool) -> None:
        """Add a read to the window if it continues it, or make it the window if it
        reaches further; trim the window to the newest `keep` events."""
        end = self._positions[-1] if self._positions else self._after
        if self._after <= position <= end:
            # Every event after `position` up to the read's end: it continues the window.
            cut = bisect.bisect_right(self._positions, position)
            if cut == len(self._positions):
                self._events.extend(events)
                self._positions.extend(e.position for e in events)
            elif events[-1].position >= end:
                del self._events[cut:], self._positions[cut:]
                self._events.extend(events)
                self._positions.extend(e.position for e in events)
            else:
                return  # inside the window: it holds this read already
        elif events[-1].position >= end:
            # Apart from the window and further into the log: it becomes the window.
            self._after = position
            self._events = list(events)
            self._positions = [e.position for e in events]
        else:
            return
        self._to_the_end = to_the_end
        over = len(self._positions) - (min(self.keep, LIVE_KEEP) if to_the_end else self.keep)
        if over > 0:
            self._after = self._positions[over - 1]
            del self._events[:over], self._positions[:over]

    async def head(self) -> int:
        return await self._reader.head()
