"""A runner that turns live after many events has its PostgreSQL tables analyzed.

Found by the benchmark at 100,000 products: with autovacuum off (as on this machine)
the search tables were never analyzed, the planner took them for empty and ran every
search as nested loops over thousands of rows (138 ms where 27 ms do).
"""

from __future__ import annotations

import asyncio

import pytest

from tandem.consistency import VersionWatch
from tandem.db.postgres import Connection, Pool
from tandem.messages import StoredEvent
from tandem.projections.base import AsyncProjection
from tandem.projections.runner import ProjectionRunner, ProjectionState
from tandem.stores.postgres import PostgresProjectionStore
from tests.support.listlog import ListLog

pytestmark = pytest.mark.services


class Rows(AsyncProjection[Connection]):
    name = "settle_probe"
    event_types = frozenset({"Counted"})

    async def setup(self, tx: Connection) -> None:
        await tx.execute("CREATE TABLE IF NOT EXISTS settle_probe_v1_rows (position BIGINT)")
        # Another projection's table whose name merely starts alike: left alone.
        await tx.execute("CREATE TABLE IF NOT EXISTS settle_probe_v10_rows (position BIGINT)")

    async def apply(self, tx: Connection, event: StoredEvent) -> None:
        await tx.execute("INSERT INTO settle_probe_v1_rows VALUES ($1)", event.position)


@pytest.fixture
def pool(pg_pool: Pool) -> Pool:
    return pg_pool


async def _estimated_rows(pool: Pool, table: str) -> float:
    return float(await pool.fetchval("SELECT reltuples FROM pg_class WHERE relname = $1", table))


async def test_tables_are_analyzed_once_the_runner_turns_live(pool: Pool) -> None:
    log, head = ListLog(), VersionWatch(0)
    for _ in range(300):
        head.advance(log.append())
    store = PostgresProjectionStore(pool)
    runner = ProjectionRunner(Rows(), store, log, head, batch_size=100, settle_after=250)
    task = asyncio.create_task(runner.run())
    try:
        assert await runner.checkpoint.wait_for(300, timeout=20)
        for _ in range(100):
            if await _estimated_rows(pool, "settle_probe_v1_rows") >= 0:
                break
            await asyncio.sleep(0.05)
        assert runner.state is ProjectionState.LIVE
        assert await _estimated_rows(pool, "settle_probe_v1_rows") == 300
        assert await _estimated_rows(pool, "settle_probe_v10_rows") < 0, "never analyzed"
        # Live traffic below the threshold does not analyze again.
        head.advance(log.append())
        assert await runner.checkpoint.wait_for(301, timeout=10)
        await asyncio.sleep(0.1)
        assert await _estimated_rows(pool, "settle_probe_v1_rows") == 300
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_settle_names_the_tables_it_analyzed(pool: Pool) -> None:
    store = PostgresProjectionStore(pool)
    await store.setup(Rows())
    assert await store.settle(Rows()) == ["settle_probe_v1_rows"]


class Words(AsyncProjection[Connection]):
    name = "settle_words"
    event_types = frozenset({"Counted"})

    async def setup(self, tx: Connection) -> None:
        await tx.execute(
            "CREATE TABLE IF NOT EXISTS settle_words_v1_docs (position BIGINT, doc TSVECTOR)"
        )
        await tx.execute(
            "CREATE INDEX IF NOT EXISTS settle_words_v1_docs_doc"
            " ON settle_words_v1_docs USING GIN (doc)"
        )

    async def apply(self, tx: Connection, event: StoredEvent) -> None:
        await tx.execute(
            "INSERT INTO settle_words_v1_docs VALUES ($1, to_tsvector('simple', $2))",
            event.position,
            f"word{event.position} shared",
        )


async def _pending(pool: Pool) -> int:
    await pool.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
    return int(
        await pool.fetchval(
            "SELECT pending_tuples FROM pgstatginindex('settle_words_v1_docs_doc'::regclass)"
        )
    )


async def test_settling_merges_the_pending_entries_of_gin_indexes(pool: Pool) -> None:
    """Every GIN scan reads the whole pending list: a catch-up leaves one behind, which
    nothing merges where autovacuum is off, until the runner settles the store."""
    log = ListLog()
    for _ in range(200):
        log.append()
    store = PostgresProjectionStore(pool)
    await store.setup(Words())
    await store.apply(Words(), await log.read_after(0, 200))
    assert await _pending(pool) > 0
    assert await store.settle(Words()) == ["settle_words_v1_docs"]
    assert await _pending(pool) == 0


async def test_the_fold_goes_on_while_the_store_settles(pool: Pool) -> None:
    """Settling runs beside the fold: an ANALYZE held up (here by a lock another session
    holds; on a large table by its own second of work) delays no event behind it."""
    log, head = ListLog(), VersionWatch(0)
    for _ in range(300):
        head.advance(log.append())
    store = PostgresProjectionStore(pool)
    await store.setup(Rows())
    blocker = await pool.acquire()
    tx = blocker.transaction()
    await tx.start()
    # Row inserts go on under this lock; ANALYZE waits for it.
    await blocker.execute("LOCK TABLE settle_probe_v1_rows IN SHARE UPDATE EXCLUSIVE MODE")
    runner = ProjectionRunner(Rows(), store, log, head, batch_size=100, settle_after=250)
    task = asyncio.create_task(runner.run())
    try:
        assert await runner.checkpoint.wait_for(300, timeout=20)
        for _ in range(100):  # the runner is live, and its ANALYZE waits for the lock
            waiting = await pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                " AND query LIKE 'ANALYZE%'"
            )
            if waiting:
                break
            await asyncio.sleep(0.05)
        assert waiting == 1
        for _ in range(50):
            head.advance(log.append())
        assert await runner.checkpoint.wait_for(350, timeout=10), "the fold waited for ANALYZE"
        assert await _estimated_rows(pool, "settle_probe_v1_rows") < 0, "analyzed too soon"
        await tx.rollback()
        for _ in range(100):
            if await _estimated_rows(pool, "settle_probe_v1_rows") >= 0:
                break
            await asyncio.sleep(0.05)
        assert await _estimated_rows(pool, "settle_probe_v1_rows") >= 300
    finally:
        if blocker.is_in_transaction():
            await tx.rollback()
        await pool.release(blocker)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
