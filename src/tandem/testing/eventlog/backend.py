"""What the event-log contract needs of a backend, and how the suite talks to it.

A subclass of `EventLogContract` hands the suite an `EventLogBackend`: a reader under
test, committed appends, and transactions it can leave open. The helpers here append
the suite's events and read the log as a projection would, waiting for visibility
rather than reading once.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from typing import Any, Protocol

from tandem.eventlog.base import EventLogReader, NewEvent
from tandem.messages import Metadata, StoredEvent

# Positions must be exact in every JSON client (an IEEE double).
POSITION_LIMIT = 2**53
# How long a committed event may stay invisible. A log may hold committed events back
# behind any older open transaction (on PostgreSQL even one in another database of the
# same server), so checks wait for visibility rather than read once.
VISIBLE_WITHIN = 10.0
META = Metadata("contract-correlation", "contract-causation")


class OpenTransaction(Protocol):
    """A writer's transaction left open: append now, commit or roll back later."""

    async def append(self, events: Sequence[NewEvent], metadata: Metadata) -> list[StoredEvent]:
        """Append inside this transaction; returns the events with their positions."""
        ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


class EventLogBackend(Protocol):
    """What a subclass of `EventLogContract` hands the suite, one per test."""

    @property
    def log(self) -> EventLogReader:
        """The reader under test."""
        ...

    async def append(self, events: Sequence[NewEvent], metadata: Metadata) -> list[StoredEvent]:
        """Append `events` in one transaction and commit it; returns them with positions.

        Raises (one of the contract's `duplicate_errors`) and keeps nothing of the batch
        if any event repeats an (aggregate type, id, version) already in the log.
        """
        ...

    async def open_transaction(self) -> OpenTransaction:
        """Begin a transaction that the suite appends to and ends later.

        With `concurrent_writers` it must not block other writers from starting theirs.
        """
        ...


def new_event(
    aggregate_id: str,
    version: int,
    data: dict[str, Any] | None = None,
    *,
    type: str = "Happened",
    schema_version: int = 1,
) -> NewEvent:
    """An event of aggregate type `contract` for the suite to append."""
    return NewEvent(type, schema_version, "contract", aggregate_id, version, data or {})


async def read_all(log: EventLogReader, after: int, page: int = 100) -> list[StoredEvent]:
    """Every event visible after `after`, read page by page as a follower would."""
    events: list[StoredEvent] = []
    while True:
        batch = await log.read_after(after, page)
        events += batch
        if len(batch) < page:
            return events
        after = batch[-1].position


async def wait_visible(
    log: EventLogReader, after: int, count: int, timeout: float = VISIBLE_WITHIN
) -> list[StoredEvent]:
    """The events after `after` once at least `count` are visible (or at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        events = await read_all(log, after)
        if len(events) >= count or time.monotonic() > deadline:
            return events
        await asyncio.sleep(0.005)


def positions_of(events: Sequence[StoredEvent]) -> list[int]:
    """The positions of `events`, in their order."""
    return [e.position for e in events]


def assert_exact_increasing(positions: Sequence[int], what: str) -> None:
    """Positions strictly increase and each is exact as a JSON number (below 2^53)."""
    assert all(0 < p < POSITION_LIMIT for p in positions), f"{what}: {positions} not in (0, 2^53)"
    assert all(a < b for a, b in itertools.pairwise(positions)), (
        f"{what}: positions {positions} do not strictly increase"
    )
