"""The event-log contract, run against every event log in this repository.

SQLite (one writer at a time, so the concurrency tests skip) and PostgreSQL in both
modes that are meant to be safe: the transaction-id horizon and the table lock. The
last test breaks the log on purpose (PostgreSQL positions read without the horizon) and
checks that the contract's concurrency checks see the lost events.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import asyncpg
import pytest
from asyncpg.pool import PoolConnectionProxy

from tandem.db.postgres import Pool, create_pool
from tandem.db.sqlite import connect
from tandem.eventlog import postgres as pg_log
from tandem.eventlog import sqlite as sqlite_log
from tandem.eventlog.base import NewEvent
from tandem.messages import Metadata, StoredEvent
from tandem.migrations import migrate
from tandem.testing.eventlog import (
    EventLogContract,
    check_an_older_transaction_is_never_skipped,
    many_writer_round,
)
from tests.support.services import PostgresDatabase

# -- SQLite -----------------------------------------------------------------------------


class SqliteTransaction:
    """A `BEGIN IMMEDIATE` transaction on a connection of its own."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def append(self, events: Sequence[NewEvent], metadata: Metadata) -> list[StoredEvent]:
        return sqlite_log.append(self.conn, events, metadata)

    async def commit(self) -> None:
        try:
            self.conn.execute("COMMIT")
        finally:
            self.conn.close()

    async def rollback(self) -> None:
        try:
            self.conn.execute("ROLLBACK")
        finally:
            self.conn.close()


class SqliteBackend:
    def __init__(self, path: Path) -> None:
        self.path = path
        conn = connect(path)
        sqlite_log.create_schema(conn)
        conn.close()
        self.log = sqlite_log.SqliteEventLogReader(path)

    async def append(self, events: Sequence[NewEvent], metadata: Metadata) -> list[StoredEvent]:
        tx = await self.open_transaction()
        try:
            stored = await tx.append(events, metadata)
        except BaseException:
            await tx.rollback()
            raise
        await tx.commit()
        return stored

    async def open_transaction(self) -> SqliteTransaction:
        conn = connect(self.path)
        conn.execute("BEGIN IMMEDIATE")
        return SqliteTransaction(conn)


class TestSqliteEventLog(EventLogContract):
    concurrent_writers = False
    duplicate_errors = (sqlite3.IntegrityError,)

    @pytest.fixture
    def event_log_backend(self, tmp_path: Path) -> Iterator[SqliteBackend]:
        backend = SqliteBackend(tmp_path / "events.db")
        yield backend
        backend.log.close()


# -- PostgreSQL -------------------------------------------------------------------------


class PostgresTransaction:
    """A transaction on a pooled connection, released when it ends."""

    def __init__(self, backend: PostgresBackend, conn: PoolConnectionProxy[asyncpg.Record]) -> None:
        self.backend = backend
        self.conn = conn
        self.tx = conn.transaction()

    async def append(self, events: Sequence[NewEvent], metadata: Metadata) -> list[StoredEvent]:
        return await pg_log.append(self.conn, events, metadata, self.backend.mode)

    async def commit(self) -> None:
        try:
            await self.tx.commit()
        finally:
            await self.backend.pool.release(self.conn)

    async def rollback(self) -> None:
        try:
            await self.tx.rollback()
        finally:
            await self.backend.pool.release(self.conn)


class PostgresBackend:
    def __init__(self, pool: Pool, mode: pg_log.AppendMode) -> None:
        self.pool = pool
        self.mode = mode
        self.log = pg_log.PostgresEventLog(pool, mode)

    async def append(self, events: Sequence[NewEvent], metadata: Metadata) -> list[StoredEvent]:
        async with self.pool.acquire() as conn, conn.transaction():
            return await pg_log.append(conn, events, metadata, self.mode)

    async def open_transaction(self) -> PostgresTransaction:
        conn = await self.pool.acquire()
        tx = PostgresTransaction(self, conn)
        await tx.tx.start()
        return tx


@pytest.fixture
async def pg_pool(pg_database: PostgresDatabase) -> AsyncIterator[Pool]:
    # Eight writers, one held-open older transaction, and the follower's reads.
    pool = await create_pool(pg_database.url, min_size=2, max_size=12)
    async with pool.acquire() as conn:
        await migrate(conn, [pg_log.MIGRATIONS])
    try:
        yield pool
    finally:
        await pool.close()


@pytest.mark.services
class TestPostgresEventLog(EventLogContract):
    duplicate_errors = (asyncpg.UniqueViolationError,)
    mode = pg_log.AppendMode.HORIZON

    @pytest.fixture
    def event_log_backend(self, pg_pool: Pool) -> PostgresBackend:
        return PostgresBackend(pg_pool, self.mode)


class TestPostgresEventLogLockMode(TestPostgresEventLog):
    """The classic fix: every appending transaction takes a table lock."""

    mode = pg_log.AppendMode.LOCK


@pytest.mark.services
async def test_the_contract_sees_lost_events_in_a_log_read_without_the_horizon(
    pg_pool: Pool,
) -> None:
    """Positions from transaction ids, read without the horizon: the bug. Both
    concurrency checks of the contract must fail on it, or they prove nothing."""
    backend = PostgresBackend(pg_pool, pg_log.AppendMode.UNSAFE)
    with pytest.raises(AssertionError, match="a follower skips it"):
        await check_an_older_transaction_is_never_skipped(backend)
    problems: list[str] = []
    for round_no in range(10):
        problems = await many_writer_round(backend, random.Random(round_no))
        if problems:
            break
    assert any("never applied" in p or "misses" in p for p in problems), problems
