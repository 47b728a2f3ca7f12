"""Throwaway state on the machine's PostgreSQL and Redis, for tests and benchmarks.

Tests and the benchmark suite both run against the machine's shared servers, so each
run works in a fresh PostgreSQL database and a fresh Redis key prefix and removes them
afterwards; this module is the one place that knows how. The servers' addresses come
from the `TANDEM_TEST_*_URL` variables (local defaults otherwise).

It needs neither pytest nor, at import, a driver: asyncpg and redis are imported by the
functions that use them, so a deployment without them can still import the module.
Deciding what an unreachable server means (skip or fail a test) is the caller's.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from tandem.stores.redis import RedisClient

PG_ADMIN_URL = os.environ.get("TANDEM_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TANDEM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_URL = os.environ.get("TANDEM_TEST_NATS_URL", "nats://127.0.0.1:4222")


def with_database(url: str, database: str) -> str:
    """`url` pointing at `database` on the same server."""
    parts = urlsplit(url)
    return parts._replace(path=f"/{database}").geturl()


@dataclass(frozen=True)
class PostgresDatabase:
    """A fresh, empty database on the machine's PostgreSQL server."""

    name: str
    url: str


async def create_database(prefix: str = "tandem_t") -> PostgresDatabase:
    """A new database named `<prefix>_<random>`, so concurrent runs never share one."""
    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return PostgresDatabase(name, with_database(PG_ADMIN_URL, name))


async def drop_database(db: PostgresDatabase) -> None:
    """Drop `db`, ending any connection still open on it."""
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')
    finally:
        await conn.close()


async def delete_prefix(client: RedisClient, prefix: str) -> None:
    """Delete every key under `prefix:`, in batches (one DEL of every key could be huge)."""
    keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
    for start in range(0, len(keys), 500):
        await client.delete(*keys[start : start + 500])
