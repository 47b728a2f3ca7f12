"""The event-log contract: what every event log backend must promise its readers.

Subclass `EventLogContract` and provide an `event_log_backend` fixture that yields an
`EventLogBackend` on a fresh, empty log:

    class TestMyEventLog(EventLogContract):
        duplicate_errors = (MyUniqueViolation,)

        @pytest.fixture
        async def event_log_backend(self) -> AsyncIterator[EventLogBackend]:
            backend = MyBackend(await fresh_database())
            yield backend
            await backend.close()

The tests are marked `asyncio` (pytest-asyncio); under its strict mode an async fixture
needs `@pytest_asyncio.fixture`. A backend with one writer at a time (SQLite) sets
`concurrent_writers = False`; the two concurrency tests then skip, saying why.

The contract is one class composed of two halves, one module each:

- `basics`: what a log does with one writer at a time (positions, reads, round trips,
  refused duplicates, rollbacks);
- `concurrent_writers`: no event appears below a position a reader already passed,
  whatever order writers commit in (the gap-safety projections rely on);

with `backend` holding the `EventLogBackend` protocol and the suite's helpers, and
`contract` composing `EventLogContract`. The names a suite or a check uses are
re-exported here.
"""

from tandem.testing.eventlog.backend import (
    META,
    POSITION_LIMIT,
    VISIBLE_WITHIN,
    EventLogBackend,
    OpenTransaction,
    new_event,
    read_all,
    wait_visible,
)
from tandem.testing.eventlog.concurrent_writers import (
    Follower,
    check_an_older_transaction_is_never_skipped,
    many_writer_round,
)
from tandem.testing.eventlog.contract import EventLogContract

__all__ = [
    "META",
    "POSITION_LIMIT",
    "VISIBLE_WITHIN",
    "EventLogBackend",
    "EventLogContract",
    "Follower",
    "OpenTransaction",
    "check_an_older_transaction_is_never_skipped",
    "many_writer_round",
    "new_event",
    "read_all",
    "wait_visible",
]
