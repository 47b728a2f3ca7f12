"""What every event log backend provides.

Appends happen inside the writer's transaction (see `tandem.uow`), so the log only has
to promise readers one thing: reading after position N, repeatedly, never skips an event
whose transaction commits later.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from tandem.errors import EventTooLarge
from tandem.messages import Metadata, StoredEvent
from tandem.upcasting import UPCASTERS

MAX_EVENT_BYTES = 256 * 1024
"""The default bound on one event: well under NATS JetStream's default maximum payload
(1 MiB), so every event the log takes can travel over the JetStream transport."""


@dataclass(frozen=True)
class NewEvent:
    """An event ready to append: encoded payload plus its place in its aggregate."""

    type: str
    schema_version: int
    aggregate_type: str
    aggregate_id: str
    aggregate_version: int
    data: dict[str, Any]

    def stored(self, position: int, recorded_at: float, metadata: Metadata) -> StoredEvent:
        """This event as the log returns it once appended at `position`."""
        return StoredEvent(
            position=position,
            type=self.type,
            schema_version=self.schema_version,
            aggregate_type=self.aggregate_type,
            aggregate_id=self.aggregate_id,
            aggregate_version=self.aggregate_version,
            recorded_at=recorded_at,
            correlation_id=metadata.correlation_id,
            causation_id=metadata.causation_id,
            data=self.data,
        )


def event_size(event: NewEvent, data: bytes, metadata: Metadata) -> int:
    """An event's size as the log bounds it: its data as JSON plus its type, aggregate
    and correlation and causation ids, in bytes."""
    texts = (
        event.type,
        event.aggregate_type,
        event.aggregate_id,
        metadata.correlation_id,
        metadata.causation_id,
    )
    return len(data) + sum(len(text.encode()) for text in texts)


def encode_bounded(
    events: Sequence[NewEvent], metadata: Metadata, limit: int = MAX_EVENT_BYTES
) -> list[bytes]:
    """Each event's data as JSON (encoded once, for the append to store); raises
    `EventTooLarge` for the first event over `limit` bytes, before anything is written."""
    encoded = []
    for event in events:
        data = orjson.dumps(event.data)
        size = event_size(event, data, metadata)
        if size > limit:
            raise EventTooLarge(event.type, size, limit)
        encoded.append(data)
    return encoded


class EventLogReader(Protocol):
    """Ordered, gap-safe reads of the event log."""

    async def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        """Events with position > `position`, in position order, at most `limit`."""
        ...

    async def head(self) -> int:
        """The highest position readers can see now (0 when empty)."""
        ...


def event_from_row(row: Any) -> StoredEvent:
    """A stored event from a row of (position, type, schema_version, aggregate_type,
    aggregate_id, aggregate_version, recorded_at, correlation_id, causation_id, data as
    JSON text), the column order every log backend selects in; its payload upcast
    (`tandem.upcasting`)."""
    event = _stored(row)
    return UPCASTERS.upcast(event) if UPCASTERS else event


def events_from_rows(rows: Iterable[Any]) -> list[StoredEvent]:
    """`event_from_row` of every row, in order: what a log read returns."""
    events = [_stored(row) for row in rows]
    if UPCASTERS:
        return [UPCASTERS.upcast(event) for event in events]
    return events


_loads = orjson.loads


def _stored(row: Any) -> StoredEvent:
    """The `StoredEvent` of a row, not upcast. Its fields by position: a catch-up builds
    one per event read, and keyword arguments cost a fifth more."""
    return StoredEvent(
        row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], _loads(row[9])
    )
