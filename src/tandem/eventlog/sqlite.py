"""The event log on SQLite.

Every append runs inside a `BEGIN IMMEDIATE` transaction, so SQLite's single writer
lock makes position order equal commit order: a reader that has seen position N can
never later find a committed event below N.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from tandem.db.sqlite import SqliteReader
from tandem.eventlog.base import MAX_EVENT_BYTES, NewEvent, encode_bounded, events_from_rows
from tandem.messages import Metadata, StoredEvent

SCHEMA = """
CREATE TABLE IF NOT EXISTS tandem_events (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    aggregate_type TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    aggregate_version INTEGER NOT NULL,
    recorded_at REAL NOT NULL,
    correlation_id TEXT NOT NULL,
    causation_id TEXT NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (aggregate_type, aggregate_id, aggregate_version)
);
CREATE TABLE IF NOT EXISTS tandem_log_identity (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    id TEXT NOT NULL
);
INSERT OR IGNORE INTO tandem_log_identity VALUES (1, lower(hex(randomblob(8))));
"""

_COLUMNS = (
    "position, type, schema_version, aggregate_type, aggregate_id, aggregate_version, "
    "recorded_at, correlation_id, causation_id, data"
)


def create_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)


def append(
    conn: sqlite3.Connection,
    events: Sequence[NewEvent],
    metadata: Metadata,
    max_event_bytes: int = MAX_EVENT_BYTES,
) -> list[StoredEvent]:
    """Append `events` in the caller's open transaction; returns them with positions.

    The unique (aggregate, version) constraint is the last line of defence for
    optimistic concurrency: two writers can never both append version N. An event over
    `max_event_bytes` (see `encode_bounded`) raises `EventTooLarge` before any insert.
    """
    now = time.time()
    encoded = encode_bounded(events, metadata, max_event_bytes)
    stored: list[StoredEvent] = []
    for event, data in zip(events, encoded, strict=True):
        cursor = conn.execute(
            "INSERT INTO tandem_events (type, schema_version, aggregate_type, aggregate_id,"
            " aggregate_version, recorded_at, correlation_id, causation_id, data)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event.type,
                event.schema_version,
                event.aggregate_type,
                event.aggregate_id,
                event.aggregate_version,
                now,
                metadata.correlation_id,
                metadata.causation_id,
                data,
            ),
        )
        position = cursor.lastrowid
        assert position is not None
        stored.append(event.stored(position, now, metadata))
    return stored


def read_after(conn: sqlite3.Connection, position: int, limit: int) -> list[StoredEvent]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM tandem_events WHERE position > ? ORDER BY position LIMIT ?",
        (position, limit),
    ).fetchall()
    return events_from_rows(rows)


def head(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT MAX(position) FROM tandem_events").fetchone()
    return int(row[0] or 0)


def identity(conn: sqlite3.Connection) -> str:
    """A random id drawn when the log was created: versions of another log differ."""
    return str(conn.execute("SELECT id FROM tandem_log_identity").fetchone()[0])


def read_aggregate(conn: sqlite3.Connection, aggregate_id: str) -> list[StoredEvent]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM tandem_events WHERE aggregate_id = ? ORDER BY position",
        (aggregate_id,),
    ).fetchall()
    return events_from_rows(rows)


class SqliteEventLogReader:
    """Readers of the SQLite event log, on read-only connections beside the writer."""

    def __init__(self, path: str | Path, *, inline: bool = False) -> None:
        self._reader = SqliteReader(path, threads=2, inline=inline)

    async def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        return await self._reader.run(lambda c: read_after(c, position, limit))

    async def head(self) -> int:
        return await self._reader.run(head)

    def close(self) -> None:
        self._reader.close()
