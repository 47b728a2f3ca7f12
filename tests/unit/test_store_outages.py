"""Which errors answer 503 `store-unavailable` rather than 500."""

from __future__ import annotations

import asyncpg
import pytest
import redis

from catalog.api.outages import store_unavailable
from catalog.api.problems import from_exception


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError("refused"),
        ConnectionResetError("reset"),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
        asyncpg.exceptions.InterfaceError("cannot call Transaction.__aexit__(): closed"),
        asyncpg.exceptions.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        ),
        redis.exceptions.ConnectionError("Connection refused"),
        redis.exceptions.TimeoutError("Timeout reading from socket"),
        # A Redis Cluster slot without a master (before its replica is promoted).
        redis.exceptions.ClusterDownError("CLUSTERDOWN The cluster is down"),
        redis.exceptions.MasterDownError("MASTERDOWN Link with MASTER is down"),
        redis.exceptions.SlotNotCoveredError('Slot "5" is not covered by the cluster.'),
        redis.exceptions.TryAgainError("TRYAGAIN Multiple keys request during rehashing"),
        # uvloop's error for a write to a connection the Redis node has closed, which
        # redis-py lets through (seen when a killed cluster master came back).
        RuntimeError(
            "unable to perform operation on <TCPTransport closed=True reading=False"
            " 0x55fcdf46f8d0>; the handler is closed"
        ),
    ],
)
def test_outages_are_503_with_retry_after(exc: Exception) -> None:
    assert store_unavailable(exc)
    problem = from_exception(exc)
    assert (problem.status, problem.type) == (503, "store-unavailable")
    assert problem.headers["Retry-After"]
    assert str(exc) not in problem.detail


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("bug"),
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        asyncpg.exceptions.UndefinedTableError("no such table"),
        redis.exceptions.ResponseError("WRONGTYPE"),
        # Keys of two hash slots in one command: a bug, not an outage.
        redis.exceptions.RedisClusterException("MGET - all keys must map to the same key slot"),
        redis.exceptions.ResponseError("CROSSSLOT Keys in request don't hash to the same slot"),
        RuntimeError("dictionary changed size during iteration"),
    ],
)
def test_bugs_stay_500(exc: Exception) -> None:
    assert not store_unavailable(exc)
    assert from_exception(exc).status == 500
