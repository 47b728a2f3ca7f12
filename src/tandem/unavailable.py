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

import importlib
import sys
from urllib.parse import urlsplit

# Module name, then the names of its exception classes that mean "cannot reach it now".
_DRIVER_ERRORS = {
    "redis.exceptions": (
        "ConnectionError",
        "TimeoutError",
        "BusyLoadingError",
        # A Redis Cluster with a slot unserved (its master down, no replica promoted
        # yet), or a slot being moved: the same request succeeds once a node serves it.
        "ClusterDownError",
        "SlotNotCoveredError",
        "TryAgainError",
    ),
    "asyncpg.exceptions": (
        "PostgresConnectionError",
        "ConnectionDoesNotExistError",
        "CannotConnectNowError",
        "TooManyConnectionsError",
        "OperatorInterventionError",
        "InterfaceError",
        # A connection whose server went away mid-message can be left in a protocol state
        # no operation can leave ("cannot switch to state …", MagicStack/asyncpg#1069).
        "InternalClientError",
    ),
    "nats.errors": (
        "ConnectionClosedError",
        "NoServersError",
        "TimeoutError",
        "StaleConnectionError",
    ),
}


# What uvloop raises (a RuntimeError) for a write to a connection its peer has closed: a
# driver that does not turn it into its own connection error lets it through, as
# redis-py does when a Redis node goes away while a connection to it is being opened.
_CLOSED_TRANSPORT = "the handler is closed"


def driver_errors(*, load: bool = False) -> tuple[type[BaseException], ...]:
    """The outage classes of the drivers imported so far (`load`: of every installed one)."""
    if load:
        for module_name in _DRIVER_ERRORS:
            try:
                importlib.import_module(module_name)
            except ImportError:
                continue
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
        if isinstance(current, RuntimeError) and _CLOSED_TRANSPORT in str(current):
            return True
        if isinstance(current, driver_errors()):
            return True
        current = current.__cause__
    return False


def location(url: str, default_port: int) -> str:
    """Where a store URL points, for messages: `host:port`, and the database (a path or
    a Redis database number) if it names one; never the user or the password. A
    comma-separated list of URLs (the servers of a NATS cluster) names each.

    >>> location("nats://u:secret@a:4222,nats://b", 4222)
    'a:4222, b:4222'
    """
    if "," in url:
        return ", ".join(location(part.strip(), default_port) for part in url.split(","))
    parts = urlsplit(url)
    try:
        port = parts.port or default_port
    except ValueError:
        port = default_port
    where = f"{parts.hostname or 'localhost'}:{port}"
    database = parts.path.strip("/")
    return f"{where}, database {database}" if database else where


def reason(exc: BaseException) -> str:
    """The first line of what `exc` says (its class name if it says nothing)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
