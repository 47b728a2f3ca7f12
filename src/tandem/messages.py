"""Message bases: commands, queries, domain events and the stored-event envelope."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True, kw_only=True)
class Command:
    """An imperative request to change state; self-contained and safe to retry."""


@dataclass(frozen=True, kw_only=True)
class Query:
    """A request for data that never changes state."""


@dataclass(frozen=True, kw_only=True)
class Event:
    """Something that happened to one aggregate.

    Subclasses are frozen dataclasses. `aggregate_type` names the stream family and
    `schema_version` the shape of the payload, so upcasters can read old events.
    """

    aggregate_type: ClassVar[str] = ""
    schema_version: ClassVar[int] = 1

    aggregate_id: str


@dataclass(frozen=True)
class Metadata:
    """Where a message came from: the conversation it belongs to and what caused it."""

    correlation_id: str
    causation_id: str


@dataclass(frozen=True)
class PendingEvent:
    """An event recorded by an aggregate, waiting to be appended with its version."""

    event: Event
    aggregate_version: int


@dataclass(frozen=True)
class StoredEvent:
    """An event as the log holds it: payload plus the facts every reader needs."""

    position: int
    type: str
    schema_version: int
    aggregate_type: str
    aggregate_id: str
    aggregate_version: int
    recorded_at: float
    correlation_id: str
    causation_id: str
    data: dict[str, Any] = field(repr=False)
