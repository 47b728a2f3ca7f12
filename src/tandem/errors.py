"""The toolkit's failures, one class each, mapped to HTTP problems at the application edge."""

from __future__ import annotations


class TandemError(Exception):
    """Base of every error the toolkit raises on purpose."""


class ConcurrencyConflict(TandemError):
    """The aggregate changed since the version the caller expected."""

    def __init__(self, aggregate_id: str, expected: int, actual: int) -> None:
        super().__init__(f"aggregate {aggregate_id} is at version {actual}, expected {expected}")
        self.aggregate_id = aggregate_id
        self.expected = expected
        self.actual = actual


class IdempotencyKeyReuse(TandemError):
    """An idempotency key was sent again with a different request."""


class HandlerAlreadyBound(TandemError):
    """A bus refuses to bind a second handler to a message type."""


class NoHandler(TandemError):
    """A message was dispatched to a bus that has no handler for its type."""


class ReadModelBehind(TandemError):
    """The read model did not reach the requested version within the timeout."""

    def __init__(self, projection: str, wanted: int, checkpoint: int) -> None:
        super().__init__(
            f"read model {projection} is at {checkpoint}, below the requested {wanted}"
        )
        self.projection = projection
        self.wanted = wanted
        self.checkpoint = checkpoint


class ReadModelNotReady(ReadModelBehind):
    """The read model's storage does not exist yet (its projection has not set it up, as
    right after a deployment starts): as behind as a read model can be."""

    def __init__(self, projection: str) -> None:
        TandemError.__init__(self, f"read model {projection} is not set up yet")
        self.projection = projection
        self.wanted = 0
        self.checkpoint = 0


class ProjectionFailed(TandemError):
    """A projection stopped after exhausting its retries; its reads cannot advance."""

    def __init__(self, projection: str, reason: str) -> None:
        super().__init__(f"projection {projection} failed: {reason}")
        self.projection = projection
        self.reason = reason


class UnknownEventType(TandemError):
    """An event type name has no registered class."""


class ReadModelLost(TandemError):
    """A read model's store went back behind what its projection had applied (wiped, or
    restarted without its last writes): the projection must start again from what the
    store holds now, and reads of it wait until it is back where it was."""

    def __init__(self, projection: str, expected: int, actual: int) -> None:
        super().__init__(
            f"read model {projection} went back from checkpoint {expected} to {actual}"
        )
        self.projection = projection
        self.expected = expected
        self.actual = actual


class EventTooLarge(TandemError):
    """An event is larger than the log accepts; nothing of its transaction is written."""

    def __init__(self, event_type: str, size: int, limit: int) -> None:
        super().__init__(
            f"a {event_type} event of {size} bytes is over the event log's limit of {limit}"
        )
        self.event_type = event_type
        self.size = size
        self.limit = limit


class StoreUnreachable(TandemError, ConnectionError):
    """A store could not be reached to open a connection: `where` names it (host, port,
    database; never a password), the message says why."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"cannot reach {where}: {reason}")
        self.where = where


class StoreInUse(TandemError):
    """A store's file is locked by another process (DuckDB lets one process open a file)."""

    def __init__(self, path: str, holder: str) -> None:
        super().__init__(f"{path} is in use by another process ({holder})")
        self.path = path
        self.holder = holder
