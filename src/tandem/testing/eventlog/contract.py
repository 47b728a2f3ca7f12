"""`EventLogContract`: the whole event-log contract, both halves in one class."""

from __future__ import annotations

from tandem.testing.eventlog.basics import BasicContract
from tandem.testing.eventlog.concurrent_writers import ConcurrentWritersContract


class EventLogContract(BasicContract, ConcurrentWritersContract):
    """The event-log contract; subclass it with an `event_log_backend` fixture.

    The fixture yields an `EventLogBackend` on a fresh, empty log for every test.
    Class attributes describe the backend:

    - `duplicate_errors`: what `append` raises for a repeated aggregate version;
    - `concurrent_writers`: False for a log with one writer at a time (SQLite), which
      skips the tests that need a transaction open beside a committing one;
    - `rounds`: how many many-writer rounds to run.
    """
