"""The registry of read-model copies: one live and at most one building copy per
projection, whatever processes race; promotion of a given-up copy changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tandem.db.postgres import Pool, create_pool
from tandem.migrations import migrate
from tandem.rebuilds import postgres as registry
from tandem.rebuilds.postgres import CopyState, RebuildRunning
from tests.support.services import PostgresDatabase

pytestmark = pytest.mark.services


@pytest.fixture
async def pool(pg_database: PostgresDatabase) -> AsyncIterator[Pool]:
    pool = await create_pool(pg_database.url, min_size=1, max_size=8)
    async with pool.acquire() as conn:
        await migrate(conn, [registry.MIGRATIONS])
    try:
        yield pool
    finally:
        await pool.close()


def _states(rows: list[registry.Copy]) -> list[tuple[int, int, str]]:
    return [(g.generation, g.version, str(g.state)) for g in rows]


async def test_racing_processes_register_one_live_first_copy(pool: Pool) -> None:
    await asyncio.gather(*(registry.reconcile(pool, {"a": 1, "b": 1}) for _ in range(8)))
    known = await registry.load(pool)
    assert _states(known["a"]) == [(1, 1, "live")]
    assert _states(known["b"]) == [(1, 1, "live")]


async def test_one_rebuild_at_a_time_and_cancel_then_promote_changes_nothing(pool: Pool) -> None:
    await registry.reconcile(pool, {"a": 1})
    started = await registry.request(pool, "a", 1)
    assert started.generation == 2 and started.storage_name == "a_g2"
    with pytest.raises(RebuildRunning):
        await registry.request(pool, "a", 1)
    assert await registry.cancel(pool, "a") is not None
    assert await registry.promote(pool, "a", 2) is False
    assert _states((await registry.load(pool))["a"]) == [(1, 1, "live"), (2, 1, "cancelled")]
    assert [g.generation for g in await registry.to_drop(pool, 0)] == [2]
    third = await registry.request(pool, "a", 1)
    assert await registry.promote(pool, "a", third.generation)
    rows = (await registry.load(pool))["a"]
    assert _states(rows) == [(1, 1, "retired"), (2, 1, "cancelled"), (3, 1, "live")]
    assert registry.live(rows) is not None and registry.live(rows).generation == 3  # type: ignore[union-attr]


async def test_racing_promotions_make_exactly_one_copy_live(pool: Pool) -> None:
    await registry.reconcile(pool, {"a": 1})
    started = await registry.request(pool, "a", 1)
    won = await asyncio.gather(*(registry.promote(pool, "a", started.generation) for _ in range(8)))
    assert sorted(won) == [False] * 7 + [True]
    rows = (await registry.load(pool))["a"]
    assert [g.state for g in rows] == [CopyState.RETIRED, CopyState.LIVE]


async def test_a_new_code_version_starts_one_rebuild_and_replaces_an_older_one(pool: Pool) -> None:
    await registry.reconcile(pool, {"a": 1})
    await asyncio.gather(*(registry.reconcile(pool, {"a": 2}) for _ in range(6)))
    rows = (await registry.load(pool))["a"]
    assert _states(rows) == [(1, 1, "live"), (2, 2, "building")]
    # Code of version 3 arrives while version 2 is being built: 2 is given up for 3.
    await registry.reconcile(pool, {"a": 3})
    rows = (await registry.load(pool))["a"]
    assert _states(rows) == [(1, 1, "live"), (2, 2, "cancelled"), (3, 3, "building")]
    # A failed build of the declared version is not retried by itself, every second.
    await registry.fail(pool, "a", 3, "boom")
    await registry.reconcile(pool, {"a": 3})
    rows = (await registry.load(pool))["a"]
    assert registry.building(rows) is None and rows[-1].error == "boom"
