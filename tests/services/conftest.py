"""Fixtures of the PostgreSQL-backed toolkit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tandem.db.postgres import Pool, create_pool
from tandem.leases import MIGRATIONS, Leases
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


LeasesOf = Callable[..., Leases]


@pytest.fixture
async def leases_of(leases_pool: Pool, pg_database: PostgresDatabase) -> AsyncIterator[LeasesOf]:
    """Makes a worker's `Leases` on the `leases_pool` database: `leases_of("one",
    ttl=2)`; their lock sessions close at the end."""
    made: list[Leases] = []

    def make(worker_id: str, **options: Any) -> Leases:
        made.append(Leases(leases_pool, worker_id, url=pg_database.url, **options))
        return made[-1]

    yield make
    for leases in made:
        await leases.session.close()


async def lock_session_pid(pool: Pool, worker_id: str) -> int:
    """The server process of worker `worker_id`'s lock session."""
    pid = await pool.fetchval(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
        f"tandem-leases {worker_id}",
    )
    assert pid is not None
    return int(pid)
