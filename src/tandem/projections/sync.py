"""`sync` projections: applied inside the write transaction, never behind the log."""

from __future__ import annotations

import sqlite3

from tandem.consistency import VersionWatch
from tandem.eventlog import sqlite as sqlite_log
from tandem.messages import StoredEvent
from tandem.projections.base import Projection
from tandem.projections.runner import ProjectionState
from tandem.stores import sqlite_projections
from tandem.stores.sqlite import transaction


class SyncProjection:
    """A projection whose read model lives in the write database.

    The unit of work applies it before COMMIT, so a command's answer already includes
    it. At start it catches up from the log in case it was asynchronous before or new.
    """

    mode = "sync"

    def __init__(self, projection: Projection[sqlite3.Connection], store_kind: str) -> None:
        self.projection = projection
        self.store_kind = store_kind
        self.checkpoint = VersionWatch(0)
        self.state = ProjectionState.STARTING
        self.error: str | None = None
        self.events_applied = 0

    @property
    def name(self) -> str:
        return self.projection.name

    def catch_up(self, conn: sqlite3.Connection, batch_size: int = 2000) -> None:
        """Bring the read model up to the log head; runs before the first command."""
        position = sqlite_projections.setup(conn, self.projection)
        while True:
            events = sqlite_log.read_after(conn, position, batch_size)
            if not events:
                break
            with transaction(conn):
                position = sqlite_projections.apply_in_transaction(conn, self.projection, events)
            self.events_applied += len(events)
        self.checkpoint.advance(position)
        self.state = ProjectionState.LIVE

    def apply(self, conn: sqlite3.Connection, events: list[StoredEvent]) -> int:
        """Apply a commit's events inside its open transaction."""
        return sqlite_projections.apply_in_transaction(conn, self.projection, events)

    def committed(self, position: int, count: int) -> None:
        self.events_applied += count
        self.checkpoint.advance(position)

    def lag_seconds(self) -> float:
        return 0.0
