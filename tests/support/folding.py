"""Feed the real event log of a running catalog into a read model under test."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from catalog.runtime.embedded import EmbeddedRuntime
from tandem.db.sqlite import transaction
from tandem.messages import StoredEvent
from tandem.projections.base import Projection, ProjectionStore
from tandem.stores import sqlite as sqlite_projections


async def all_events(cat: EmbeddedRuntime) -> list[StoredEvent]:
    return await cat.log_reader.read_after(0, 100_000)


async def fold_events(
    store: ProjectionStore[Any], projection: Any, events: Sequence[StoredEvent]
) -> int:
    """Set the read model up and apply `events` (a log from position 0) to it in one
    batch; returns its checkpoint."""
    await store.setup(projection)
    return await store.apply(projection, list(events))


async def fold_log(
    cat: EmbeddedRuntime, store: ProjectionStore[Any], projection: Projection[Any]
) -> int:
    """Set the read model up and apply the whole log to it; returns its checkpoint."""
    return await fold_events(store, projection, await all_events(cat))


async def fold_into_write_database(
    cat: EmbeddedRuntime, projection: Projection[sqlite3.Connection]
) -> int:
    """Apply the whole log to a read model kept in the write database (`sync` mode)."""
    events = await all_events(cat)

    def apply(conn: sqlite3.Connection) -> int:
        sqlite_projections.setup(conn, projection)
        with transaction(conn):
            return sqlite_projections.apply_in_transaction(conn, projection, events)

    return await cat.write_db.run(apply)
