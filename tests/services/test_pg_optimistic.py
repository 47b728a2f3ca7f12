"""The optimistic command path on PostgreSQL: a command reads without locks and commits
in one statement that checks nothing it read moved on; when something did, nothing is
written and the bus runs the command again on the locking path.

Each test here fails if the statement's check is taken away: without the locks it tries
the commit blocks behind a locking command or overwrites it, and without the version
checks a stale command lands over a newer one (stock sold twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from catalog.domain import commands as c
from catalog.domain.errors import InsufficientStock
from catalog.write.postgres import PostgresCatalogUnitOfWork
from catalog.write.repositories import CatalogUnitOfWork
from tandem.bus import CommandBus
from tandem.db.postgres import Pool
from tandem.eventlog.postgres import PostgresEventLog
from tandem.uow import OptimisticMiss
from tandem.uow.postgres import PostgresWriter
from tests.support.pg_writes import catalog_bus, catalog_writer, migrated_pool
from tests.support.services import PostgresDatabase

pytestmark = [pytest.mark.services, pytest.mark.timeout(120)]


@pytest.fixture
async def pool(pg_database: PostgresDatabase) -> AsyncIterator[Pool]:
    async with migrated_pool(pg_database.url, min_size=4, max_size=24) as pool:
        yield pool


@pytest.fixture
def writer(pool: Pool) -> PostgresWriter:
    return catalog_writer(pool)


@pytest.fixture
def bus(pool: Pool, writer: PostgresWriter) -> CommandBus[CatalogUnitOfWork]:
    return catalog_bus(pool, writer=writer)


async def _product(bus: CommandBus[CatalogUnitOfWork], stock: int = 10) -> str:
    category = (await bus.dispatch(c.CreateCategory(name=f"Opt {uuid.uuid4()}"))).id
    created = c.CreateProduct(
        sku=f"OPT-{uuid.uuid4()}",
        name="Optimist",
        category_id=category,
        price=Decimal("5"),
        initial_stock=stock,
    )
    return (await bus.dispatch(created)).id


async def _price(pool: Pool, product: str) -> str:
    async with pool.acquire() as conn:
        return str(await conn.fetchval("SELECT price FROM products WHERE id = $1", product))


async def test_a_commit_over_an_aggregate_that_moved_on_writes_nothing(
    pool: Pool, writer: PostgresWriter, bus: CommandBus[CatalogUnitOfWork]
) -> None:
    product = await _product(bus)
    uow = PostgresCatalogUnitOfWork(writer)
    assert uow.optimistic
    async with uow:
        read = await uow.repositories().product(product)
        # Another command changes the product after this one read it.
        await bus.dispatch(c.ChangePrice(product_id=product, price=Decimal("7")))
        before = await PostgresEventLog(pool).read_aggregate(product)
        read.change_price(Decimal("9"))
        uow.track(read)
        with pytest.raises(OptimisticMiss):
            await uow.commit(read.id)
    assert await PostgresEventLog(pool).read_aggregate(product) == before
    assert await _price(pool, product) == "7.00"
    assert writer.optimistic_misses == 1


async def test_a_commit_over_an_aggregate_a_locking_command_holds_fails_without_waiting(
    pool: Pool, writer: PostgresWriter, bus: CommandBus[CatalogUnitOfWork]
) -> None:
    product = await _product(bus)
    locking = PostgresCatalogUnitOfWork(writer)
    locking.optimistic = False
    async with locking:
        await locking.repositories().product(product)  # held until this transaction ends
        uow = PostgresCatalogUnitOfWork(writer)
        async with uow:
            read = await uow.repositories().product(product)
            read.change_price(Decimal("9"))
            uow.track(read)
            with pytest.raises(OptimisticMiss):
                await asyncio.wait_for(uow.commit(read.id), 5)
    assert await _price(pool, product) == "5.00"


async def test_racing_commands_on_one_product_all_land_in_version_order(
    pool: Pool, writer: PostgresWriter, bus: CommandBus[CatalogUnitOfWork]
) -> None:
    product = await _product(bus)
    prices = [Decimal(n) for n in range(10, 42)]
    results = await asyncio.gather(
        *(bus.dispatch(c.ChangePrice(product_id=product, price=p)) for p in prices)
    )
    # No command without If-Match is refused for racing another: the ones that missed
    # ran again behind the product's lock.
    assert len({r.version for r in results}) == len(prices)
    assert writer.optimistic_misses > 0
    events = await PostgresEventLog(pool).read_aggregate(product)
    assert [e.aggregate_version for e in events] == list(range(1, len(prices) + 2))
    assert [e.position for e in events] == sorted(e.position for e in events)
    last = max(results, key=lambda r: r.version)
    assert await _price(pool, product) == f"{prices[results.index(last)]:.2f}"


async def test_racing_checkouts_sell_each_unit_once(
    pool: Pool, writer: PostgresWriter, bus: CommandBus[CatalogUnitOfWork]
) -> None:
    product = await _product(bus, stock=5)
    carts = [str(uuid.uuid4()) for _ in range(16)]
    for cart in carts:
        await bus.dispatch(
            c.AddToCart(cart_id=cart, product_id=product, quantity=1, customer="opt")
        )
    placed: list[str] = []

    async def checkout(cart: str) -> None:
        with contextlib.suppress(InsufficientStock):
            placed.append((await bus.dispatch(c.PlaceOrder(cart_id=cart, customer="opt"))).id)

    await asyncio.gather(*(checkout(cart) for cart in carts))
    assert len(placed) == 5
    assert writer.optimistic_misses > 0
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT stock FROM products WHERE id = $1", product) == 0
        assert await conn.fetchval("SELECT count(*) FROM orders") == 5
    events = await PostgresEventLog(pool).read_aggregate(product)
    assert [e.aggregate_version for e in events] == list(range(1, len(events) + 1))
