"""Which errors mean "a store is unavailable right now" (HTTP 503), not a bug (500).

A connection refused or dropped, a server out of connection slots or shutting down:
the request may well succeed when retried, so the client is told when to retry.
"""

from __future__ import annotations

from tandem.unavailable import unavailable

# SQLSTATE classes and codes of PostgreSQL that say the server cannot serve now:
# 08 connection exception, 53 insufficient resources (too many connections, out of
# memory or disk), 57P01 to 57P03 shutting down, crashed, not accepting connections yet.
_SQLSTATE_CLASSES = ("08", "53")
_SQLSTATE_CODES = frozenset({"57P01", "57P02", "57P03"})


def _redis_outage(exc: BaseException) -> bool:
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # the embedded profile runs without the services extra
        return False
    return isinstance(exc, RedisConnectionError | RedisTimeoutError)


def store_unavailable(exc: BaseException) -> bool:
    """True for an error that says a store could not be reached or could not serve."""
    if unavailable(exc):
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str) and (
        sqlstate[:2] in _SQLSTATE_CLASSES or sqlstate in _SQLSTATE_CODES
    ):
        return True
    return _redis_outage(exc)
