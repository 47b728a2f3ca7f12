"""Telling a store that is down from an error in the data.

A projection retries a failing event a few times, then stops on it as poison; an API
answers an unexpected error with 500. Neither is right when the error only says that
Redis, PostgreSQL or NATS cannot be reached right now: the projection must wait for the
store to come back and go on, and a query or command must answer 503 with
`Retry-After`. The drivers' exception classes are looked up only when their module is
already imported, so the embedded profile never imports them.

>>> unavailable(ConnectionRefusedError())
True
>>> unavailable(ValueError())
False
"""

from __future__ import annotations

import sys

# Module name, then the names of its exception classes that mean "cannot reach it now".
_DRIVER_ERRORS = {
    "redis.exceptions": ("ConnectionError", "TimeoutError", "BusyLoadingError"),
    "asyncpg.exceptions": (
        "PostgresConnectionError",
        "ConnectionDoesNotExistError",
        "CannotConnectNowError",
        "TooManyConnectionsError",
        "OperatorInterventionError",
        "InterfaceError",
    ),
    "nats.errors": (
        "ConnectionClosedError",
        "NoServersError",
        "TimeoutError",
        "StaleConnectionError",
    ),
}


def _driver_classes() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = []
    for module_name, names in _DRIVER_ERRORS.items():
        module = sys.modules.get(module_name)
        if module is None:
            continue
        for name in names:
            cls = getattr(module, name, None)
            if isinstance(cls, type) and issubclass(cls, BaseException):
                found.append(cls)
    return tuple(found)


def unavailable(exc: BaseException) -> bool:
    """Whether `exc` (or the error it was raised from) says a store is unreachable."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (ConnectionError, TimeoutError)):
            return True
        if isinstance(current, _driver_classes()):
            return True
        current = current.__cause__
    return False
