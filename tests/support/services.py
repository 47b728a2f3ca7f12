"""The machine's PostgreSQL, Redis and NATS for tests of the services profile.

Each test gets its own PostgreSQL database, its own Redis key prefix and its own NATS
stream names, so tests never see each other's data. A service that is not reachable
skips the test on a laptop and fails it under `CI=true`. The databases themselves come
from `tandem.testing.throwaway`, which the benchmarks use too; this module adds the
skip-or-fail check before each.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from tandem.testing import throwaway
from tandem.testing.throwaway import (
    NATS_URL,
    PG_ADMIN_URL,
    REDIS_URL,
    PostgresDatabase,
    drop_database,
)


def reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    address = (parts.hostname or "127.0.0.1", parts.port or default_port)
    try:
        with socket.create_connection(address, 1):
            return True
    except OSError:
        return False


def require(name: str, url: str, default_port: int) -> None:
    """Skip (or, under CI, fail) when a service is down."""
    if reachable(url, default_port):
        return
    message = f"{name} is not reachable at {url}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


async def create_database(prefix: str = "tandem_t") -> PostgresDatabase:
    """A fresh database (`tandem.testing.throwaway`), once PostgreSQL is known to be up."""
    require("PostgreSQL", PG_ADMIN_URL, 5432)
    return await throwaway.create_database(prefix)


async def postgres_database(prefix: str = "tandem_t") -> AsyncIterator[PostgresDatabase]:
    """Body of a fixture: a fresh database, dropped afterwards."""
    db = await create_database(prefix)
    try:
        yield db
    finally:
        await drop_database(db)


def redis_prefix() -> str:
    require("Redis", REDIS_URL, 6379)
    return f"tandem_t_{uuid.uuid4().hex[:12]}"


def nats_names() -> str:
    require("NATS", NATS_URL, 4222)
    return f"TANDEM_T_{uuid.uuid4().hex[:12].upper()}"
