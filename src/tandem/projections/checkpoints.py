"""Checkpoint rows for SQL stores, written in the read model's own transaction."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from tandem.messages import StoredEvent
from tandem.projections.base import AsyncProjection, Projection

CHECKPOINT_TABLE = """
CREATE TABLE IF NOT EXISTS tandem_checkpoints (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    version INTEGER NOT NULL
)
"""


class Cursor(Protocol):
    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...


def _stored_position(tx: Cursor, name: str) -> int | None:
    row = tx.execute("SELECT position FROM tandem_checkpoints WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else None


def load(tx: Cursor, name: str) -> int:
    return _stored_position(tx, name) or 0


def save(tx: Cursor, name: str, position: int, version: int, *, stored: bool = False) -> None:
    """Store the checkpoint; `stored` says its row is known to exist (read in this
    transaction), so a plain UPDATE does: DuckDB takes about 1.6 ms for the upsert and
    0.6 ms for the update, on every batch."""
    if stored:
        tx.execute(
            "UPDATE tandem_checkpoints SET position = ?, version = ? WHERE name = ?",
            (position, version, name),
        )
        return
    tx.execute(
        "INSERT INTO tandem_checkpoints (name, position, version) VALUES (?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET position = excluded.position,"
        " version = excluded.version",
        (name, position, version),
    )


def stored(tx: Cursor, name: str) -> tuple[int, int] | None:
    """(position, projection version) of the checkpoint stored for `name`, read
    without running any of the projection's code; None before its first event (or
    before the table exists). The same SQL reads SQLite and DuckDB."""
    found = tx.execute(
        "SELECT count(*) FROM sqlite_master WHERE name = 'tandem_checkpoints'"
    ).fetchone()
    if not found[0]:
        return None
    row = tx.execute(
        "SELECT position, version FROM tandem_checkpoints WHERE name = ?", (name,)
    ).fetchone()
    return None if row is None else (int(row[0]), int(row[1]))


def apply_past(tx: Cursor, projection: Projection[Any], events: list[StoredEvent]) -> int:
    """Apply the events past the stored checkpoint and store the new checkpoint, all in
    the caller's open transaction; returns the checkpoint.

    Events at or below the stored checkpoint are skipped: a redelivered batch has no
    second effect. Events the projection does not handle still move the checkpoint.
    """
    stored = _stored_position(tx, projection.name)
    checkpoint = stored or 0
    fresh = [event for event in events if event.position > checkpoint]
    if not fresh:
        return checkpoint
    apply_handled(tx, projection, fresh)
    last = fresh[-1].position
    save(tx, projection.name, last, projection.version, stored=stored is not None)
    return last


def apply_handled(tx: Any, projection: Projection[Any], events: list[StoredEvent]) -> None:
    """Apply, as one batch, the events the projection handles (the others need no call)."""
    wanted = projection.event_types
    handled = [event for event in events if event.type in wanted]
    if handled:
        projection.apply_batch(tx, handled)


@runtime_checkable
class BatchApplying(Protocol):
    """An async projection that can also fold several events in one call.

    `apply_batch(tx, events)` must have the effect of `apply` on each event in order;
    it gets only events of the projection's `event_types`. Network stores use it to
    read every key a batch needs in one round trip, or to write in bulk.
    """

    async def apply_batch(self, tx: Any, events: list[StoredEvent]) -> None: ...


async def _apply_all(tx: Any, projection: AsyncProjection[Any], events: list[StoredEvent]) -> None:
    wanted = projection.event_types
    handled = [e for e in events if e.type in wanted]
    if not handled:
        return
    if isinstance(projection, BatchApplying):
        await projection.apply_batch(tx, handled)
        return
    for event in handled:
        await projection.apply(tx, event)


async def fold_past(
    tx: Any, projection: AsyncProjection[Any], events: list[StoredEvent], checkpoint: int
) -> int:
    """Apply the events past `checkpoint` through `tx` and return the new checkpoint
    (the caller stores it with the changes). Events the projection does not handle
    still move the checkpoint; events at or below it are redeliveries and skipped."""
    fresh = [e for e in events if e.position > checkpoint]
    await _apply_all(tx, projection, fresh)
    return fresh[-1].position if fresh else checkpoint


def apply_again(tx: Cursor, projection: Projection[Any], events: list[StoredEvent]) -> None:
    """Apply parked events (at or below the checkpoint) without touching the checkpoint:
    a dead letter retried after a fix. One batch, as a fold applies them: a projection
    that records something per batch (which answers it changed) records them too."""
    apply_handled(tx, projection, events)


async def fold_again(tx: Any, projection: AsyncProjection[Any], events: list[StoredEvent]) -> None:
    """`apply_again` for projections on stores reached over the network."""
    await _apply_all(tx, projection, events)
