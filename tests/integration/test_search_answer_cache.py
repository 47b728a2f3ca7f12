"""Cached searches against a real PostgreSQL search model: under concurrent price and
stock changes, a search answered from memory is the store's answer at the version it
reports (or at a later one the store had reached), byte for byte; a page names the
products it lists, so a stock count changing on a product it shows forgets it, while
one on a product it does not show leaves it cached."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.caches import following, serving_at
from tests.support.event_log import BAGS, DESK, LAMPS, Log, Status

from catalog.read_models import answers
from catalog.read_models.answers import CachedAnswers
from catalog.read_models.product_search.postgres import PostgresProductSearchProjection
from catalog.read_models.product_search.postgres_reads import PostgresSearchReads
from catalog.read_models.queries import SearchProducts
from tandem.bus import QueryBus
from tandem.db.postgres import Pool, create_pool
from tandem.messages import StoredEvent
from tandem.middleware import consistency
from tandem.stores.postgres import PostgresProjectionStore
from tandem.stores.switchable import SwitchableReads
from tandem.testing.throwaway import create_database, drop_database

pytestmark = pytest.mark.services

PRODUCTS = {
    "a0000000-0000-4000-8000-000000000001": (LAMPS, "Brass lamp"),
    "a0000000-0000-4000-8000-000000000002": (DESK, "Desk lamp"),
    "a0000000-0000-4000-8000-000000000003": (DESK, "Clip lamp"),
    "a0000000-0000-4000-8000-000000000004": (BAGS, "Canvas tote"),
    "a0000000-0000-4000-8000-000000000005": (BAGS, "Leather tote"),
}
# Pages of one or two: most products are off most pages.
QUERIES = (
    SearchProducts(category=LAMPS, sort="price_asc", limit=2),
    SearchProducts(q="lamp", sort="price_desc", limit=2),
    SearchProducts(q="tote", in_stock=True, sort="price_asc", limit=1),
    SearchProducts(category=DESK, sort="newest", limit=1),
    SearchProducts(in_stock=True, sort="price_asc", limit=2),
)


@dataclass
class Harness:
    pool: Pool
    status: Status
    log: Log
    store: PostgresProjectionStore
    bus: QueryBus
    search: CachedAnswers[SearchProducts]

    async def apply(self, events: list[StoredEvent]) -> None:
        await self.store.apply(PostgresProductSearchProjection(), events)
        self.status.checkpoint.advance(events[-1].position)

    async def caught_up(self) -> None:
        await serving_at(self.search.cache, lambda: self.status.checkpoint.value)

    async def uncached(self, query: SearchProducts) -> bytes:
        return orjson.dumps((await self.bus.ask(query)).value)


@contextlib.asynccontextmanager
async def running() -> AsyncIterator[Harness]:
    database = await create_database("tandem_t_search_cache")
    pool = await create_pool(database.url, min_size=2, max_size=6)
    status = Status()
    store = PostgresProjectionStore(pool)
    await store.setup(PostgresProductSearchProjection())
    switchable = SwitchableReads(PostgresSearchReads(pool))
    bus = QueryBus([consistency({"product_search": status})])
    switchable.register(bus)
    search = CachedAnswers(
        answers.switchable(switchable),
        status.checkpoint,
        bus,
        answers.SEARCH.scope_of,
        capacity=100,
        tracked=status,
        named=answers.SEARCH.named,
    )
    log = Log()
    found = Harness(pool, status, log, store, bus, search)
    try:
        async with following(search):
            await found.apply(log.shop(PRODUCTS))
            await found.caught_up()
            yield found
    finally:
        await pool.close()
        await drop_database(database)


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    async with running() as found:
        yield found


def _cached(harness: Harness, query: SearchProducts) -> bool:
    return harness.search.lookup(query, 0) is not None


async def test_a_stock_count_forgets_the_pages_that_show_the_product_only(
    harness: Harness,
) -> None:
    cheapest_lamps = QUERIES[0]  # Lamps subtree by price, two a page
    ids = list(PRODUCTS)
    await harness.apply([harness.log.price(ids[0], "1.00"), harness.log.price(ids[1], "2.00")])
    await harness.apply([harness.log.price(ids[2], "50.00")])
    await harness.caught_up()
    page = orjson.loads(await harness.uncached(cheapest_lamps))
    assert [item["id"] for item in page["items"]] == ids[:2]
    await harness.search.answer(cheapest_lamps, 0, 2.0)
    assert _cached(harness, cheapest_lamps)

    await harness.apply([harness.log.stock(ids[2], 7)])  # in the subtree, not on the page
    await harness.caught_up()
    assert _cached(harness, cheapest_lamps)

    await harness.apply([harness.log.stock(ids[1], 9)])  # on the page
    await harness.caught_up()
    assert not _cached(harness, cheapest_lamps)
    _, body = await harness.search.answer(cheapest_lamps, 0, 2.0)
    assert orjson.loads(body.body)["items"][1]["stock"] == 9
    assert body.body == await harness.uncached(cheapest_lamps)

    await harness.apply([harness.log.stock(ids[2], 0)])  # out of stock: what searches find
    await harness.caught_up()
    assert not _cached(harness, cheapest_lamps)


Change = tuple[str, str, int]  # (kind, product, amount)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    changes=st.lists(
        st.tuples(
            st.sampled_from(("price", "stock")),
            st.sampled_from(sorted(PRODUCTS)),
            st.integers(0, 999),
        ),
        min_size=1,
        max_size=12,
    ),
    seed=st.integers(0, 2**32),
)
def test_a_cached_search_is_the_stores_answer_at_its_version_under_concurrent_writes(
    changes: list[Change], seed: int
) -> None:
    asyncio.run(_concurrent(changes, seed))


async def _concurrent(changes: list[Change], seed: int) -> None:
    rng = random.Random(seed)
    async with running() as harness:
        # The store's answer to every query after each batch, by checkpoint.
        truth: dict[int, list[bytes]] = {}

        async def record() -> None:
            truth[harness.status.checkpoint.value] = [await harness.uncached(q) for q in QUERIES]

        await record()
        started = [harness.status.checkpoint.value]

        async def write() -> None:
            for kind, product, amount in changes:
                if kind == "price":
                    change = harness.log.price(product, f"{amount / 100 + 1:.2f}")
                else:
                    change = harness.log.stock(product, amount % 4)  # often 0
                started.append(change.position)
                await harness.apply([change])
                await record()
                for _ in range(rng.randint(0, 3)):
                    await asyncio.sleep(0)

        served: list[tuple[int, int, int, bytes]] = []  # (query, version, newest, answer)

        async def read() -> None:
            for _ in range(3 * len(changes)):
                which = rng.randrange(len(QUERIES))
                wanted = rng.randint(0, harness.status.checkpoint.value)
                found = await harness.search.answer(QUERIES[which], wanted, 2.0)
                assert found[0] >= wanted
                served.append((which, found[0], started[-1], found[1].body))
                await asyncio.sleep(0)

        await asyncio.gather(write(), read(), read())
        assert harness.search.cache.hits > 0
        for which, version, newest, body in served:
            at = max(v for v in truth if v <= version)
            states = [truth[v][which] for v in truth if at <= v <= newest]
            assert body in states, (QUERIES[which], version)
