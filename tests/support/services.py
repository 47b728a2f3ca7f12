"""The machine's PostgreSQL, Redis and NATS for tests of the services profile.

Each test gets its own PostgreSQL database, its own Redis key prefix and its own NATS
stream names, so tests never see each other's data. A service that is not reachable
skips the test on a laptop and fails it under `CI=true`.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

PG_ADMIN_URL = os.environ.get("TANDEM_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TANDEM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_URL = os.environ.get("TANDEM_TEST_NATS_URL", "nats://127.0.0.1:4222")


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


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return parts._replace(path=f"/{database}").geturl()


@dataclass(frozen=True)
class PostgresDatabase:
    """A fresh, empty database on the machine's PostgreSQL server."""

    name: str
    url: str


async def create_database(prefix: str = "tandem_t") -> PostgresDatabase:
    import asyncpg

    require("PostgreSQL", PG_ADMIN_URL, 5432)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return PostgresDatabase(name, with_database(PG_ADMIN_URL, name))


async def drop_database(db: PostgresDatabase) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')
    finally:
        await conn.close()


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
