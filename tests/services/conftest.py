"""Fixtures of the PostgreSQL-backed toolkit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tandem.db.postgres import Pool, create_pool
from tandem.leases import MIGRATIONS
from tandem.migrations import migrate
from tests.support.services import PostgresDatabase


@pytest.fixture
async def pg_pool(pg_database: PostgresDatabase) -> AsyncIterator[Pool]:
    """A pool on a fresh, empty database."""
    pool = await create_pool(pg_database.url, min_size=1, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def leases_pool(pg_pool: Pool) -> Pool:
    """`pg_pool` with the lease and projection-status tables."""
    async with pg_pool.acquire() as conn:
        await migrate(conn, [MIGRATIONS])
    return pg_pool
