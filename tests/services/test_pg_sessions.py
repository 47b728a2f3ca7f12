"""Read-your-writes versions on the PostgreSQL log: a version a command just returned is
reachable even while the horizon still hides it from readers (an older transaction is
open), and nothing above the last committed position is."""

from __future__ import annotations

import pytest

from tandem.consistency import VersionWatch
from tandem.db.postgres import Pool
from tandem.eventlog import postgres as pg_log
from tandem.eventlog.base import NewEvent
from tandem.messages import Metadata
from tandem.migrations import migrate
from tandem.sessions import Sessions

pytestmark = pytest.mark.services


@pytest.fixture
async def pool(pg_pool: Pool) -> Pool:
    """`pg_pool` (tests/services/conftest.py) with the event log's tables."""
    async with pg_pool.acquire() as conn:
        await migrate(conn, [pg_log.MIGRATIONS])
    return pg_pool


async def test_a_committed_version_the_horizon_hides_is_reachable(pool: Pool) -> None:
    log = pg_log.PostgresEventLog(pool, pg_log.AppendMode.HORIZON)
    async with pool.acquire() as older:
        held = older.transaction()
        await held.start()
        await older.fetchval("SELECT pg_current_xact_id()")  # an older transaction, open
        async with pool.acquire() as conn, conn.transaction():
            event = NewEvent("Happened", 1, "thing", "t-1", 1, {"n": 1})
            (stored,) = await pg_log.append(conn, [event], Metadata("c", "c"), log.mode)
        version = stored.position
        assert await log.head() < version  # readers cannot see it yet
        assert await log.last_position() == version
        sessions = Sessions(VersionWatch(await log.head()))
        sessions.bind(await log.identity(), log.last_position)
        assert await sessions.reachable(version)
        assert not await sessions.reachable(version + 1)
        await held.rollback()


async def test_the_log_identity_is_drawn_once(pool: Pool) -> None:
    log = pg_log.PostgresEventLog(pool, pg_log.AppendMode.HORIZON)
    identity = await log.identity()
    assert len(identity) == 16
    assert await log.identity() == identity
    async with pool.acquire() as conn:  # migrating again draws no second identity
        await migrate(conn, [pg_log.MIGRATIONS])
    assert await log.identity() == identity
