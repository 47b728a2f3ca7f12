"""The product feed: one query per checkpoint, newest versions for slow subscribers."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import orjson

from catalog.domain import commands as c
from catalog.read_models.product_detail import feed as product_feed
from catalog.runtime.embedded import EmbeddedRuntime


async def _product(catalog: EmbeddedRuntime) -> str:
    category = (await catalog.command_bus.dispatch(c.CreateCategory(name="Feed"))).id
    created = await catalog.command_bus.dispatch(
        c.CreateProduct(sku="FEED-1", name="Fed", category_id=category, price=Decimal("1.00"))
    )
    return created.id


async def test_a_subscriber_that_never_reads_keeps_only_the_newest_versions(
    catalog: EmbeddedRuntime,
) -> None:
    product_id = await _product(catalog)
    feed = catalog.product_feed
    stalled = feed.subscribe(product_id)  # never read: a client that stopped reading
    reader = feed.subscribe(product_id)
    received: list[int] = []

    async def read_all() -> None:
        while len(received) < 20:
            _, doc = await reader.get()
            received.append(int(orjson.loads(doc)["version"]))

    reading = asyncio.create_task(read_all())
    for cents in range(101, 121):
        result = await catalog.command_bus.dispatch(
            c.ChangePrice(product_id=product_id, price=Decimal(cents) / 100)
        )
        await asyncio.sleep(0)  # let the feed and the reading subscriber run
    await asyncio.wait_for(reading, 5)

    assert received == list(range(2, 22)), "the reading subscriber missed or reordered versions"
    assert stalled.qsize() == product_feed.QUEUE_SIZE
    kept = [int(orjson.loads(stalled.get_nowait()[1])["version"]) for _ in range(stalled.qsize())]
    assert kept == list(range(22 - product_feed.QUEUE_SIZE, 22))
    assert catalog.head.value == result.version
    feed.unsubscribe(product_id, stalled)
    feed.unsubscribe(product_id, reader)
    assert feed.subscriber_count == 0
