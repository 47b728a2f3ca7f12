"""Fixtures of the PostgreSQL-backed toolkit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tandem.leases import MIGRATIONS
from tandem.migrations import migrate
from tandem.pg import Pool, create_pool
from tests.support.services import PostgresDatabase


@pytest.fixture
async def leases_pool(pg_database: PostgresDatabase) -> AsyncIterator[Pool]:
    """A pool on a fresh database holding the lease and projection-status tables."""
    pool = await create_pool(pg_database.url, min_size=1, max_size=4)
    async with pool.acquire() as conn:
        await migrate(conn, [MIGRATIONS])
    try:
        yield pool
    finally:
        await pool.close()
