"""The unit of work: a state change and its events in one transaction; one module per
backend (`sqlite`, `postgres`), optional ones imported lazily."""

from tandem.uow.base import (
    CommandResult,
    IdempotencyClaim,
    OptimisticMiss,
    UnitOfWork,
    UnitOfWorkLike,
    new_metadata,
)

__all__ = [
    "CommandResult",
    "IdempotencyClaim",
    "OptimisticMiss",
    "UnitOfWork",
    "UnitOfWorkLike",
    "new_metadata",
]
