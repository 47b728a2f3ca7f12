"""The unit of work: state changes, event-log append and idempotency in one transaction.

Handlers follow one shape::

    async with uow:
        product = await Repositories(uow).product(cmd.product_id)
        product.change_price(cmd.price)
        uow.track(product)
        return await uow.commit(product.id)

`commit` writes the tracked aggregates, appends their events, stores the idempotency
record and applies `sync` projections before the single COMMIT, so either all of it is
durable or none of it is.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from tandem.aggregate import Aggregate
from tandem.codec import EventRegistry
from tandem.eventlog.base import NewEvent
from tandem.messages import Metadata


@dataclass(frozen=True)
class CommandResult:
    """What a successful command answers: the aggregate id and the log version."""

    id: str
    version: int
    created: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "created": self.created, **self.extra}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CommandResult:
        rest = {k: v for k, v in data.items() if k not in ("id", "version", "created")}
        return cls(str(data["id"]), int(data["version"]), bool(data["created"]), rest)


@dataclass(frozen=True)
class IdempotencyClaim:
    """A client's idempotency key and the fingerprint of the request it names."""

    scope: str
    key: str
    fingerprint: str


def new_metadata() -> Metadata:
    correlation = str(uuid.uuid4())
    return Metadata(correlation_id=correlation, causation_id=correlation)


class OptimisticMiss(Exception):
    """An optimistic commit found an aggregate it read moved on, or held by another
    command; nothing was written. The bus runs the command again, holding its
    aggregates from the start."""


class UnitOfWorkLike(Protocol):
    """What the command bus sets on a unit of work before handing it to a handler.

    `optimistic` lets the unit of work read without holding anything and check at
    commit instead (raising `OptimisticMiss` when the check fails); units of work that
    have no such path ignore it.
    """

    metadata: Metadata
    idempotency: IdempotencyClaim | None
    optimistic: bool


class UnitOfWork:
    """Backend-neutral part of a unit of work: what to write and under which key."""

    def __init__(self) -> None:
        self.metadata: Metadata = new_metadata()
        self.idempotency: IdempotencyClaim | None = None
        self.optimistic = False
        self._tracked: dict[str, Aggregate] = {}

    def track(self, aggregate: Aggregate) -> None:
        """Mark an aggregate changed; commit saves it and appends its events."""
        self._tracked[aggregate.id] = aggregate

    def tracked(self) -> list[Aggregate]:
        return list(self._tracked.values())

    def collect_events(self, registry: EventRegistry) -> list[NewEvent]:
        """The tracked aggregates' pending events, encoded for the log, in order."""
        return [
            NewEvent(
                type=registry.type_name(pending.event),
                schema_version=pending.event.schema_version,
                aggregate_type=pending.event.aggregate_type,
                aggregate_id=pending.event.aggregate_id,
                aggregate_version=pending.aggregate_version,
                data=registry.encode(pending.event),
            )
            for aggregate in self.tracked()
            for pending in aggregate.collect()
        ]

    def reset(self) -> None:
        self._tracked.clear()
