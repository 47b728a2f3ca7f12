"""Tandem: a CQRS toolkit for asyncio.

Commands change state through a unit of work that appends events to an event log in the
same transaction; projections fold the log into read models, each with a checkpoint
stored atomically with its changes; queries wait for a minimum version when asked.

This module holds what every application uses, whatever its backends: messages,
aggregates, the event codec and its upcasters, the buses, versions, the unit of work's
base, projections and their runner, dead letters and errors. The bus middleware is
`tandem.middleware`; each backend has a module of its own (`tandem.sqlite`,
`tandem.postgres`, `tandem.redis`, `tandem.nats`, `tandem.duckdb`), and the contract
suites are in `tandem.testing`. Importing `tandem` imports no backend driver.

Names are imported on first use, so a process that only needs one part (a command
line that starts a server elsewhere, say) pays for no more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tandem.lazy import lazy_exports

if TYPE_CHECKING:
    from tandem.aggregate import Aggregate
    from tandem.bus import (
        CommandBus,
        CommandHandler,
        Dispatch,
        Middleware,
        Next,
        QueryBus,
        QueryHandler,
        QueryResult,
    )
    from tandem.codec import EventRegistry
    from tandem.consistency import VersionWatch
    from tandem.deadletters import DeadLetter, DeadLetters
    from tandem.errors import (
        ConcurrencyConflict,
        EventTooLarge,
        HandlerAlreadyBound,
        IdempotencyKeyReuse,
        NoHandler,
        ProjectionFailed,
        ReadModelBehind,
        ReadModelLost,
        ReadModelNotReady,
        StoreUnreachable,
        TandemError,
        UnknownEventType,
    )
    from tandem.eventlog import EventLogReader, NewEvent
    from tandem.messages import Command, Event, Metadata, PendingEvent, Query, StoredEvent
    from tandem.projections import ProjectionRunner, ProjectionState, RetryPolicy
    from tandem.projections.base import AsyncProjection, Projection, ProjectionStore
    from tandem.projections.runner import PoisonPolicy
    from tandem.uow import CommandResult, UnitOfWork, UnitOfWorkLike
    from tandem.upcasting import UPCASTERS, Upcasters

__version__ = "0.1.0"

_HOMES = {
    "Aggregate": "tandem.aggregate",
    "AsyncProjection": "tandem.projections.base",
    "Command": "tandem.messages",
    "CommandBus": "tandem.bus",
    "CommandHandler": "tandem.bus",
    "CommandResult": "tandem.uow",
    "ConcurrencyConflict": "tandem.errors",
    "DeadLetter": "tandem.deadletters",
    "DeadLetters": "tandem.deadletters",
    "Dispatch": "tandem.bus",
    "Event": "tandem.messages",
    "EventLogReader": "tandem.eventlog",
    "EventRegistry": "tandem.codec",
    "EventTooLarge": "tandem.errors",
    "HandlerAlreadyBound": "tandem.errors",
    "IdempotencyKeyReuse": "tandem.errors",
    "Metadata": "tandem.messages",
    "Middleware": "tandem.bus",
    "NewEvent": "tandem.eventlog",
    "Next": "tandem.bus",
    "NoHandler": "tandem.errors",
    "PendingEvent": "tandem.messages",
    "PoisonPolicy": "tandem.projections.runner",
    "Projection": "tandem.projections.base",
    "ProjectionFailed": "tandem.errors",
    "ProjectionRunner": "tandem.projections",
    "ProjectionState": "tandem.projections",
    "ProjectionStore": "tandem.projections.base",
    "Query": "tandem.messages",
    "QueryBus": "tandem.bus",
    "QueryHandler": "tandem.bus",
    "QueryResult": "tandem.bus",
    "ReadModelBehind": "tandem.errors",
    "ReadModelLost": "tandem.errors",
    "ReadModelNotReady": "tandem.errors",
    "RetryPolicy": "tandem.projections",
    "StoreUnreachable": "tandem.errors",
    "StoredEvent": "tandem.messages",
    "TandemError": "tandem.errors",
    "UnitOfWork": "tandem.uow",
    "UnitOfWorkLike": "tandem.uow",
    "UnknownEventType": "tandem.errors",
    "UPCASTERS": "tandem.upcasting",
    "Upcasters": "tandem.upcasting",
    "VersionWatch": "tandem.consistency",
}


__all__ = [
    "UPCASTERS",
    "Aggregate",
    "AsyncProjection",
    "Command",
    "CommandBus",
    "CommandHandler",
    "CommandResult",
    "ConcurrencyConflict",
    "DeadLetter",
    "DeadLetters",
    "Dispatch",
    "Event",
    "EventLogReader",
    "EventRegistry",
    "EventTooLarge",
    "HandlerAlreadyBound",
    "IdempotencyKeyReuse",
    "Metadata",
    "Middleware",
    "NewEvent",
    "Next",
    "NoHandler",
    "PendingEvent",
    "PoisonPolicy",
    "Projection",
    "ProjectionFailed",
    "ProjectionRunner",
    "ProjectionState",
    "ProjectionStore",
    "Query",
    "QueryBus",
    "QueryHandler",
    "QueryResult",
    "ReadModelBehind",
    "ReadModelLost",
    "ReadModelNotReady",
    "RetryPolicy",
    "StoreUnreachable",
    "StoredEvent",
    "TandemError",
    "UnitOfWork",
    "UnitOfWorkLike",
    "UnknownEventType",
    "Upcasters",
    "VersionWatch",
    "__version__",
]


__getattr__ = lazy_exports(__name__, _HOMES)


def __dir__() -> list[str]:
    return sorted(__all__)
