"""The category-stats fold on Redis records which stats each batch changed, with the
batch, so a process caching stats learns exactly which to forget and up to where."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from catalog.read_models.category_stats.redis import RedisCategoryStatsProjection
from catalog.read_models.category_stats.redis_reads import RedisCategoryStatsReads
from catalog.read_models.scopes import EVERYTHING
from tandem.messages import StoredEvent
from tandem.stores.redis import RedisProjectionStore
from tandem.testing.throwaway import REDIS_URL, delete_prefix
from tests.contracts.read_models.conftest import EmbeddedHistory
from tests.contracts.read_models.history import BAGS, BOOTS, RUNNER, RUNNING, SHOES, TOTE, TRAIL
from tests.support.services import redis_prefix

pytestmark = pytest.mark.services


@pytest.fixture
async def folded(
    embedded_history: EmbeddedHistory,
) -> AsyncIterator[tuple[RedisProjectionStore, RedisCategoryStatsReads, list[StoredEvent]]]:
    prefix = redis_prefix()
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        store = RedisProjectionStore(client, prefix)
        await store.setup(RedisCategoryStatsProjection())
        yield store, RedisCategoryStatsReads(client, prefix), list(embedded_history.written.events)
    finally:
        await delete_prefix(client, prefix)
        await client.aclose()


def _first(events: list[StoredEvent], type: str, aggregate_id: str) -> int:
    return next(
        i for i, e in enumerate(events) if e.type == type and e.aggregate_id == aggregate_id
    )


async def test_each_batch_records_the_categories_whose_stats_it_changed(
    folded: tuple[RedisProjectionStore, RedisCategoryStatsReads, list[StoredEvent]],
) -> None:
    store, reads, events = folded
    projection = RedisCategoryStatsProjection()
    now = await reads.scope_changes(None)
    assert now.rows == [] and now.cursor == "0-0" and not now.gap
    runner_price = _first(events, "PriceChanged", RUNNER)
    before = events[:runner_price]
    checkpoint = await store.apply(projection, before)

    start = await reads.scope_changes(now.cursor)
    assert start.checkpoint == checkpoint == before[-1].position
    assert not start.gap
    # One entry for the batch, at its last position; category events touch everything.
    assert {position for position, _ in start.rows} == {checkpoint}
    assert {EVERYTHING, SHOES, RUNNING, TRAIL, BOOTS, BAGS} <= {s for _, s in start.rows}

    # The runner (in Trail) re-priced alone: Trail and every category above it.
    changed = events[runner_price]
    await store.apply(projection, [changed])
    after = await reads.scope_changes(start.cursor)
    assert after.checkpoint == changed.position
    assert sorted(after.rows) == sorted(
        (changed.position, scope) for scope in (TRAIL, RUNNING, SHOES)
    )
    assert (await reads.scope_changes(after.cursor)).rows == []
    assert (await reads.scope_changes(None)).cursor == after.cursor


async def test_a_later_batch_reads_only_its_own_changes(
    folded: tuple[RedisProjectionStore, RedisCategoryStatsReads, list[StoredEvent]],
) -> None:
    store, reads, events = folded
    projection = RedisCategoryStatsProjection()
    tote_price = [
        i for i, e in enumerate(events) if e.type == "PriceChanged" and e.aggregate_id == TOTE
    ]
    cut = tote_price[-1]
    await store.apply(projection, events[:cut])
    now = await reads.scope_changes(None)
    last = await store.apply(projection, [events[cut]])
    later = await reads.scope_changes(now.cursor)
    assert [s for _, s in later.rows] == [BAGS]
    assert later.checkpoint == last
