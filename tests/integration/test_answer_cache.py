"""Cached category stats against real Redis: the fold records which categories each
batch changed, the cache follows those records at the checkpoint, forgets what they
touch, and never serves an answer other than the store's at the version it reports,
however writes and reads interleave."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import redis.asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.caches import following, serving_at
from tests.support.event_log import BAGS, DESK, LAMPS, Log, Status
from tests.support.services import REDIS_URL, redis_prefix

from catalog.read_models import answers
from catalog.read_models.answers import CachedAnswers
from catalog.read_models.category_stats import redis as category_stats
from catalog.read_models.category_stats.redis import RedisCategoryStatsProjection
from catalog.read_models.category_stats.redis_reads import RedisCategoryStatsReads
from catalog.read_models.queries import GetCategoryStats
from tandem.bus import QueryBus
from tandem.messages import StoredEvent
from tandem.middleware import consistency
from tandem.stores.redis import RedisProjectionStore
from tandem.stores.switchable import SwitchableReads
from tandem.testing.throwaway import delete_prefix

pytestmark = pytest.mark.services

CATEGORIES = (LAMPS, DESK, BAGS)
PRODUCTS = {
    "a0000000-0000-4000-8000-000000000001": LAMPS,
    "a0000000-0000-4000-8000-000000000002": DESK,
    "a0000000-0000-4000-8000-000000000003": BAGS,
    "a0000000-0000-4000-8000-000000000004": BAGS,
}


@dataclass
class Harness:
    client: redis.asyncio.Redis
    prefix: str
    status: Status
    log: Log
    store: RedisProjectionStore
    switchable: SwitchableReads
    bus: QueryBus
    stats: CachedAnswers[GetCategoryStats]

    async def apply(self, events: list[StoredEvent], *, advance: bool = True) -> None:
        await self.store.apply(RedisCategoryStatsProjection(), events)
        if advance:
            self.status.checkpoint.advance(events[-1].position)

    async def caught_up(self) -> None:
        await serving_at(self.stats.cache, lambda: self.status.checkpoint.value)

    async def read(self, category: str, min_version: int = 0) -> tuple[int, dict[str, object]]:
        query = GetCategoryStats(category_id=category)
        found = await self.stats.answer(query, min_version, 2.0)
        return found[0], orjson.loads(found[1].body)

    async def uncached(self, category: str) -> bytes:
        result = await self.bus.ask(GetCategoryStats(category_id=category))
        return orjson.dumps(result.value)


@contextlib.asynccontextmanager
async def running() -> AsyncIterator[Harness]:
    prefix = redis_prefix()
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    status = Status()
    store = RedisProjectionStore(client, prefix)
    await store.setup(RedisCategoryStatsProjection())
    switchable = SwitchableReads(RedisCategoryStatsReads(client, prefix))
    bus = QueryBus([consistency({"category_stats": status})])
    switchable.register(bus)
    stats = CachedAnswers(
        answers.switchable(switchable),
        status.checkpoint,
        bus,
        answers.STATS.scope_of,
        capacity=100,
        tracked=status,
    )
    log = Log()
    found = Harness(client, prefix, status, log, store, switchable, bus, stats)
    try:
        async with following(stats):
            products = {id: (c, f"Thing {i}") for i, (id, c) in enumerate(PRODUCTS.items())}
            await found.apply(log.shop(products))
            await found.caught_up()
            yield found
    finally:
        await delete_prefix(client, prefix)
        await client.aclose()


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    async with running() as found:
        yield found


def _hit(harness: Harness, category: str, min_version: int = 0) -> bool:
    return harness.stats.lookup(GetCategoryStats(category_id=category), min_version) is not None


async def test_a_change_forgets_the_stats_of_its_category_and_those_above_only(
    harness: Harness,
) -> None:
    for category in CATEGORIES:
        await harness.read(category)
    assert all(_hit(harness, c) for c in CATEGORIES)

    desk_lamp = "a0000000-0000-4000-8000-000000000002"
    change = harness.log.price(desk_lamp, "9.00")
    await harness.apply([change])
    await harness.caught_up()
    assert not _hit(harness, DESK) and not _hit(harness, LAMPS)
    assert _hit(harness, BAGS, change.position)  # untouched: holds at the new checkpoint

    version, lamps = await harness.read(LAMPS, change.position)
    assert version >= change.position
    assert lamps["max_price"] == "9.00"
    assert _hit(harness, LAMPS, change.position)


async def test_concurrent_misses_of_one_answer_read_the_store_once(harness: Harness) -> None:
    asked: list[object] = []

    async def counted(dispatch: Any, call_next: Any) -> Any:
        asked.append(dispatch.message)
        return await call_next(dispatch)

    bus = QueryBus([counted, consistency({"category_stats": harness.status})])
    harness.switchable.register(bus)
    stats = CachedAnswers(
        answers.switchable(harness.switchable),
        harness.status.checkpoint,
        bus,
        answers.STATS.scope_of,
        capacity=100,
        tracked=harness.status,
    )
    async with following(stats):
        await serving_at(stats.cache, lambda: harness.status.checkpoint.value)
        query = GetCategoryStats(category_id=LAMPS)
        found = await asyncio.gather(*(stats.answer(query, 0, 2.0) for _ in range(20)))
        assert len(asked) == 1
        assert len({(version, document.body) for version, document in found}) == 1
        # A read that needs a later version than the load under way asked for does not
        # take its answer.
        head = harness.status.checkpoint.value
        first = asyncio.ensure_future(stats.load(query, 0, 2.0))
        later = asyncio.ensure_future(stats.load(query, head, 2.0))
        await asyncio.gather(first, later)
        assert len(asked) == 3


async def test_a_category_event_forgets_every_answer(harness: Harness) -> None:
    for category in CATEGORIES:
        await harness.read(category)
    await harness.apply([harness.log.category("c0000000-0000-4000-8000-000000000009", "New")])
    await harness.caught_up()
    assert len(harness.stats.cache) == 0


async def test_records_trimmed_past_the_cursor_drop_the_cache(harness: Harness) -> None:
    await harness.read(BAGS)
    drops = harness.stats.cache.drops
    # Two batches land, then the stream loses all but the newest entry before the cache
    # reads it (as a follower far behind would find it).
    bag = "a0000000-0000-4000-8000-000000000003"
    changes = [harness.log.price(bag, "3.00"), harness.log.price(bag, "4.00")]
    for change in changes:
        await harness.apply([change], advance=False)
    stream = f"{harness.prefix}:category_stats:v1:{category_stats.SCOPES}"
    await harness.client.xtrim(stream, maxlen=1, approximate=False)
    assert (await harness.switchable.target.scope_changes(harness.stats._cursor)).gap
    harness.status.checkpoint.advance(changes[-1].position)
    await harness.caught_up()
    assert harness.stats.cache.drops > drops
    assert not _hit(harness, BAGS)
    _, bags = await harness.read(BAGS, changes[-1].position)
    assert bags["max_price"] == "4.00"


async def test_a_switch_to_another_copy_drops_the_cache(harness: Harness) -> None:
    await harness.read(BAGS)
    assert _hit(harness, BAGS)
    harness.switchable.switch(RedisCategoryStatsReads(harness.client, harness.prefix))
    assert not _hit(harness, BAGS)
    await harness.caught_up()
    await harness.read(BAGS)
    assert _hit(harness, BAGS)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    prices=st.lists(
        st.tuples(st.sampled_from(sorted(PRODUCTS)), st.integers(1, 999)), min_size=1, max_size=12
    ),
    seed=st.integers(0, 2**32),
)
def test_a_cached_answer_is_the_stores_answer_at_its_version_under_concurrent_writes(
    prices: list[tuple[str, int]], seed: int
) -> None:
    asyncio.run(_concurrent(prices, seed))


async def _concurrent(prices: list[tuple[str, int]], seed: int) -> None:
    rng = random.Random(seed)
    async with running() as harness:
        # The store's answer for every category after each batch, by checkpoint: the
        # truth at any version is the one recorded at the last checkpoint at or below it.
        truth: dict[int, dict[str, bytes]] = {}

        async def record() -> None:
            truth[harness.status.checkpoint.value] = {
                c: await harness.uncached(c) for c in CATEGORIES
            }

        await record()
        started = [harness.status.checkpoint.value]

        async def write() -> None:
            for product, cents in prices:
                change = harness.log.price(product, f"{cents / 100:.2f}")
                started.append(change.position)  # readers may see it from now on
                await harness.apply([change])
                await record()
                for _ in range(rng.randint(0, 3)):
                    await asyncio.sleep(0)

        # (category, version reported, newest batch begun when served, answer)
        served: list[tuple[str, int, int, bytes]] = []

        async def read() -> None:
            for _ in range(3 * len(prices)):
                category = rng.choice(CATEGORIES)
                wanted = rng.randint(0, harness.status.checkpoint.value)
                query = GetCategoryStats(category_id=category)
                found = await harness.stats.answer(query, wanted, 2.0)
                assert found[0] >= wanted
                served.append((category, found[0], started[-1], found[1].body))
                await asyncio.sleep(0)

        await asyncio.gather(write(), read(), read())
        # As with an uncached read, the answer is the store's at the version reported or
        # at a later one it had reached by then, never at an earlier one.
        for category, version, newest, body in served:
            at = max(v for v in truth if v <= version)
            states = [orjson.loads(truth[v][category]) for v in truth if at <= v <= newest]
            assert orjson.loads(body) in states, (category, version)
