"""The product-detail near cache against real Redis: the projection writes documents and
change streams, the cache follows them at the checkpoint, drops itself on a gap in a
stream and on a switch to another copy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import redis.asyncio
from tests.support import event_log
from tests.support.caches import following
from tests.support.event_log import Status
from tests.support.services import REDIS_URL, redis_prefix

from catalog.read_models.product_detail import redis as product_detail
from catalog.read_models.product_detail.cache import DetailCache
from catalog.read_models.product_detail.redis import RedisProductDetailProjection
from catalog.read_models.product_detail.redis_reads import RedisProductDetailReads
from tandem.bus import QueryBus
from tandem.errors import ReadModelBehind
from tandem.messages import StoredEvent
from tandem.middleware import consistency
from tandem.stores.redis import RedisProjectionStore
from tandem.stores.switchable import SwitchableReads
from tandem.testing.throwaway import delete_prefix

CATEGORY = "c0000000-0000-4000-8000-000000000000"
PRODUCTS = [f"a0000000-0000-4000-8000-00000000000{i}" for i in range(3)]


class Log(event_log.Log):
    def history(self) -> list[StoredEvent]:
        events = [self.event("CategoryCreated", CATEGORY, {"name": "Lamps", "parent_id": None})]
        for i, id in enumerate(PRODUCTS):
            events.append(self.product(id, CATEGORY, f"Lamp {i}"))
        return events


@dataclass
class Copy:
    """One stored copy of product detail, and the cache following it."""

    store: RedisProjectionStore
    projection: RedisProductDetailProjection
    reads: RedisProductDetailReads


@dataclass
class Harness:
    client: redis.asyncio.Redis
    prefix: str
    status: Status
    log: Log
    copy: Copy
    switchable: SwitchableReads
    detail: DetailCache

    async def apply(self, events: list[StoredEvent], *, advance: bool = True) -> None:
        await self.copy.store.apply(self.copy.projection, events)
        if advance:
            self.status.checkpoint.advance(events[-1].position)

    async def caught_up(self) -> None:
        """Until the cache serves at the checkpoint."""
        cache = self.detail.cache
        assert await cache.watermark.wait_for(self.status.checkpoint.value, 5.0)
        assert cache.serving


async def _copy(client: redis.asyncio.Redis, prefix: str) -> Copy:
    store = RedisProjectionStore(client, prefix)
    projection = RedisProductDetailProjection()
    await store.setup(projection)
    return Copy(store, projection, RedisProductDetailReads(client, prefix))


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    prefix = redis_prefix()
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    status = Status()
    copy = await _copy(client, prefix)
    switchable = SwitchableReads(copy.reads)
    bus = QueryBus([consistency({"product_detail": status})])
    detail = DetailCache(switchable, status.checkpoint, bus, capacity=100, tracked=status)
    detail.register(bus)
    found = Harness(client, prefix, status, Log(), copy, switchable, detail)
    try:
        async with following(detail):
            await found.apply(found.log.history())
            await found.caught_up()
            yield found
    finally:
        await delete_prefix(client, prefix)
        await client.aclose()


def _price(found: tuple[int, Any]) -> str:
    return str(orjson.loads(found[1].body)["price"])


async def test_a_miss_fills_and_the_stream_keeps_the_entry_current(harness: Harness) -> None:
    detail, id = harness.detail, PRODUCTS[0]
    assert detail.lookup(id, 0) is None
    loaded = await detail.load(id, 0, 1.0)
    assert _price(loaded) == "1.00"
    hit = detail.lookup(id, 0)
    assert hit is not None and hit[1] == loaded[1]
    stored = await harness.client.get(f"{harness.prefix}:product_detail:v1:product:{id}")
    assert hit[1].body == stored

    await harness.apply([harness.log.price(id, "2.00")])
    await harness.caught_up()
    hit = detail.lookup(id, harness.status.checkpoint.value)
    assert hit is not None and _price(hit) == "2.00"
    assert hit[0] >= harness.status.checkpoint.value


async def test_a_read_above_the_watermark_waits_for_the_store(harness: Harness) -> None:
    detail, id = harness.detail, PRODUCTS[1]
    await detail.load(id, 0, 1.0)
    change = harness.log.price(id, "3.00")
    assert detail.lookup(id, change.position) is None
    with pytest.raises(ReadModelBehind):
        await detail.load(id, change.position, 0.05)
    waiting = asyncio.create_task(detail.load(id, change.position, 2.0))
    await asyncio.sleep(0.05)
    await harness.apply([change])
    version, document = await waiting
    assert version >= change.position
    assert orjson.loads(document.body)["price"] == "3.00"


async def test_a_gap_in_the_stream_drops_the_cache(harness: Harness) -> None:
    detail, id = harness.detail, PRODUCTS[2]
    await detail.load(id, 0, 1.0)
    drops = detail.cache.drops
    # Changes land in Redis, then the stream loses all but its newest entry before the
    # cache reads it (as a follower more than the stream's length behind would find).
    changes = [harness.log.price(id, f"{4 + i}.00") for i in range(3)]
    await harness.apply(changes, advance=False)
    stream = f"{harness.prefix}:product_detail:v1:{product_detail.FEED}"
    await harness.client.xtrim(stream, maxlen=1, approximate=False)
    harness.status.checkpoint.advance(changes[-1].position)
    await harness.caught_up()
    assert detail.cache.drops > drops
    assert len(detail.cache) == 0
    assert detail.lookup(id, 0) is None
    reloaded = await detail.load(id, changes[-1].position, 1.0)
    assert _price(reloaded) == "6.00"


async def test_a_switch_to_another_copy_is_served_from_that_copy(harness: Harness) -> None:
    detail, id = harness.detail, PRODUCTS[0]
    await detail.load(id, 0, 1.0)
    assert detail.lookup(id, 0) is not None
    # The rebuilt copy: the same log folded again, under another namespace, with a
    # change the first copy never saw.
    rebuilt = await _copy(harness.client, f"{harness.prefix}g2")
    log = Log()
    await rebuilt.store.apply(rebuilt.projection, [*log.history(), log.price(id, "9.00")])
    harness.status.checkpoint.advance(log.position)
    harness.switchable.switch(rebuilt.reads)
    assert detail.lookup(id, 0) is None  # the first read after the switch drops it
    assert len(detail.cache) == 0
    await harness.caught_up()
    assert _price(await detail.load(id, 0, 1.0)) == "9.00"
    hit = detail.lookup(id, 0)
    assert hit is not None and _price(hit) == "9.00"


async def test_nothing_is_served_while_the_store_is_behind(harness: Harness) -> None:
    detail, id = harness.detail, PRODUCTS[1]
    await detail.load(id, 0, 1.0)
    harness.status.went_back = True  # the store was wiped and folds again
    assert detail.lookup(id, 0) is None
    assert len(detail.cache) == 0
    await harness.apply([harness.log.price(id, "8.00")])
    await asyncio.sleep(0.05)
    assert not detail.cache.serving
    harness.status.went_back = False
    await harness.apply([harness.log.price(id, "8.50")])
    await harness.caught_up()
    await detail.load(id, 0, 1.0)
    hit = detail.lookup(id, 0)
    assert hit is not None and _price(hit) == "8.50"
