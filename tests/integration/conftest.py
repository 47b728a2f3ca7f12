"""Fixtures of the integration tests that compare the two search backends: a pool on a
fresh PostgreSQL read database, and `Both` (the search model in SQLite and PostgreSQL,
fed by the session's embedded catalog)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.support.search_backends import Both
from tests.support.services import PostgresDatabase

from catalog.runtime.embedded import EmbeddedRuntime
from tandem.db.postgres import Pool, create_pool
from tandem.stores.sqlite import SqliteProjectionStore


@pytest.fixture
async def search_pool(pg_read_database: PostgresDatabase) -> AsyncIterator[Pool]:
    pool = await create_pool(pg_read_database.url, min_size=2, max_size=6)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def both(catalog: EmbeddedRuntime, tmp_path: Path, search_pool: Pool) -> AsyncIterator[Both]:
    sqlite_store = SqliteProjectionStore(tmp_path / "under-test" / "product_search.db")
    try:
        yield Both(catalog, sqlite_store, search_pool)
    finally:
        sqlite_store.close()
