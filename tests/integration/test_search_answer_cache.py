"""Cached searches against a real search model on each backend (PostgreSQL, SQLite):
under concurrent price, stock and text changes, a search answered from memory is the
store's answer at the version it reports (or at a later one the store had reached),
byte for byte. A page names the products it lists, so a stock count changing on a
product it shows forgets it, while one on a product it does not show leaves it cached;
a text search is filed under its word key, so a price change forgets it only if the
product's text has that key, while a search without one, or answered by the typo
fallback, is forgotten by any price change in its category."""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from catalog.read_models.product_search.sqlite import ProductSearchProjection
from catalog.read_models.product_search.sqlite_reads import ProductSearchReads
from catalog.read_models.queries import SearchProducts
from tandem.bus import QueryBus
from tandem.db.postgres import create_pool
from tandem.messages import StoredEvent
from tandem.middleware import consistency
from tandem.stores.postgres import PostgresProjectionStore
from tandem.stores.sqlite import SqliteProjectionStore
from tandem.stores.switchable import SwitchableReads
from tandem.testing.throwaway import create_database, drop_database

BACKENDS = [pytest.param("postgres", marks=pytest.mark.services), "sqlite"]

PRODUCTS = {
    "a0000000-0000-4000-8000-000000000001": (LAMPS, "Brass lamp"),
    "a0000000-0000-4000-8000-000000000002": (DESK, "Desk lamp"),
    "a0000000-0000-4000-8000-000000000003": (DESK, "Clip lamp"),
    "a0000000-0000-4000-8000-000000000004": (BAGS, "Canvas tote"),
    "a0000000-0000-4000-8000-000000000005": (BAGS, "Leather tote"),
}
# Names a text change gives a product: words other searches have, or none of them.
NAMES = ("Brass lamp", "Canvas lamp", "Brass tote", "Plain box")
# Pages of one or two: most products are off most pages.
QUERIES = (
    SearchProducts(category=LAMPS, sort="price_asc", limit=2),
    SearchProducts(q="lamp", sort="price_desc", limit=2),
    SearchProducts(q="tote", in_stock=True, sort="price_asc", limit=1),
    SearchProducts(category=DESK, sort="newest", limit=1),
    SearchProducts(in_stock=True, sort="price_asc", limit=2),
    SearchProducts(q="brass", sort="price_asc", limit=1),
    SearchProducts(q="canv", category=BAGS, sort="price_asc", limit=2),
    SearchProducts(q="rass", sort="price_asc", limit=2),  # the typo fallback finds "brass"
)


@dataclass
class Harness:
    status: Status
    log: Log
    store: Any
    projection: Any
    bus: QueryBus
    search: CachedAnswers[SearchProducts]

    async def apply(self, events: list[StoredEvent]) -> None:
        await self.store.apply(self.projection, events)
        self.status.checkpoint.advance(events[-1].position)

    async def caught_up(self) -> None:
        await serving_at(self.search.cache, lambda: self.status.checkpoint.value)

    async def uncached(self, query: SearchProducts) -> bytes:
        return orjson.dumps((await self.bus.ask(query)).value)


@contextlib.asynccontextmanager
async def _postgres() -> AsyncIterator[tuple[Any, Any, Any]]:
    database = await create_database("tandem_t_search_cache")
    pool = await create_pool(database.url, min_size=2, max_size=6)
    try:
        yield (
            PostgresProjectionStore(pool),
            PostgresProductSearchProjection(),
            (PostgresSearchReads(pool)),
        )
    finally:
        await pool.close()
        await drop_database(database)


@contextlib.asynccontextmanager
async def _sqlite() -> AsyncIterator[tuple[Any, Any, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteProjectionStore(Path(tmp) / "search.db")
        try:
            yield store, ProductSearchProjection(), ProductSearchReads(store.reader)
        finally:
            store.close()


@contextlib.asynccontextmanager
async def running(backend: str) -> AsyncIterator[Harness]:
    opened = _postgres() if backend == "postgres" else _sqlite()
    async with opened as (store, projection, reads):
        status = Status()
        await store.setup(projection)
        switchable = SwitchableReads(reads)
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
        found = Harness(status, log, store, projection, bus, search)
        async with following(search):
            await found.apply(log.shop(PRODUCTS))
            await found.caught_up()
            yield found


@pytest.fixture(params=BACKENDS)
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    async with running(str(request.param)) as found:
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


async def test_a_price_change_forgets_only_the_searches_its_products_text_could_match(
    harness: Harness,
) -> None:
    ids = list(PRODUCTS)
    brass_lamp, desk_lamp, canvas_tote = ids[0], ids[1], ids[3]
    lamps_by_price, tote, brass, typo = QUERIES[0], QUERIES[2], QUERIES[5], QUERIES[7]
    cached = (lamps_by_price, tote, brass, typo)

    async def fill() -> None:
        for query in cached:
            await harness.search.answer(query, 0, 2.0)
            assert _cached(harness, query)

    await fill()
    # A tote: not in Lamps, no word beginning "bra"; the typo search, over the whole
    # catalog, may find anything similar.
    await harness.apply([harness.log.price(canvas_tote, "3.00")])
    await harness.caught_up()
    assert [_cached(harness, q) for q in cached] == [True, False, True, False]

    await fill()
    await harness.apply([harness.log.price(desk_lamp, "4.00")])  # in Lamps, no "bra"
    await harness.caught_up()
    assert [_cached(harness, q) for q in cached] == [False, True, True, False]

    await fill()
    await harness.apply([harness.log.price(brass_lamp, "5.00")])
    await harness.caught_up()
    assert [_cached(harness, q) for q in cached] == [False, True, False, False]

    await fill()  # a text change: every search of its categories
    await harness.apply([harness.log.details(desk_lamp, DESK, "Brass desk lamp")])
    await harness.caught_up()
    assert [_cached(harness, q) for q in cached] == [False, False, False, False]
    body = (await harness.search.answer(brass, 0, 2.0))[1].body
    assert body == await harness.uncached(brass)
    assert orjson.loads(body)["total"] == 2


Change = tuple[str, str, int]  # (kind, product, amount)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    changes=st.lists(
        st.tuples(
            st.sampled_from(("price", "stock", "text")),
            st.sampled_from(sorted(PRODUCTS)),
            st.integers(0, 999),
        ),
        min_size=1,
        max_size=12,
    ),
    seed=st.integers(0, 2**32),
)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_cached_search_is_the_stores_answer_at_its_version_under_concurrent_writes(
    backend: str, changes: list[Change], seed: int
) -> None:
    asyncio.run(_concurrent(backend, changes, seed))


async def _concurrent(backend: str, changes: list[Change], seed: int) -> None:
    rng = random.Random(seed)
    async with running(backend) as harness:
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
                elif kind == "stock":
                    change = harness.log.stock(product, amount % 4)  # often 0
                else:
                    name = NAMES[amount % len(NAMES)]
                    change = harness.log.details(product, PRODUCTS[product][0], name)
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
        await harness.caught_up()
        for query in QUERIES:  # with no write under way, every answer is kept
            await harness.search.answer(query, 0, 2.0)
            assert _cached(harness, query), query
        for which, version, newest, body in served:
            at = max(v for v in truth if v <= version)
            states = [truth[v][which] for v in truth if at <= v <= newest]
            assert body in states, (QUERIES[which], version)
