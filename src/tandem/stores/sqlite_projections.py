"""Projections on SQLite: read-model change and checkpoint in one transaction."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tandem.messages import StoredEvent
from tandem.projections import checkpoints
from tandem.projections.base import Projection
from tandem.stores.sqlite import SqliteDatabase, SqliteReader, transaction

SqliteProjection = Projection[sqlite3.Connection]


def setup(conn: sqlite3.Connection, projection: SqliteProjection) -> int:
    with transaction(conn):
        conn.execute(checkpoints.CHECKPOINT_TABLE)
        projection.setup(conn)
        return checkpoints.load(conn, projection.name)


def apply_in_transaction(
    conn: sqlite3.Connection, projection: SqliteProjection, events: list[StoredEvent]
) -> int:
    """Apply events past the stored checkpoint inside the caller's open transaction."""
    return checkpoints.apply_past(conn, projection, events)


class SqliteProjectionStore:
    """A SQLite file holding one or more read models and their checkpoints."""

    kind = "sqlite"

    def __init__(self, path: str | Path, *, inline: bool = False) -> None:
        self.path = Path(path)
        self.db = SqliteDatabase(self.path, inline=inline)
        self._reader: SqliteReader | None = None

    @property
    def reader(self) -> SqliteReader:
        """Read-only connections for queries against this store."""
        if self._reader is None:
            self._reader = SqliteReader(self.path)
        return self._reader

    async def setup(self, projection: SqliteProjection) -> int:
        return await self.db.run(lambda c: setup(c, projection))

    async def apply(self, projection: SqliteProjection, events: list[StoredEvent]) -> int:
        def _apply(conn: sqlite3.Connection) -> int:
            with transaction(conn):
                return apply_in_transaction(conn, projection, events)

        return await self.db.run(_apply)

    async def apply_parked(self, projection: SqliteProjection, events: list[StoredEvent]) -> None:
        """Apply parked events again in one transaction; the checkpoint stays."""

        def _apply(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                checkpoints.apply_again(conn, projection, events)

        await self.db.run(_apply)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self.db.close()
