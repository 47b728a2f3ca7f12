"""Idempotency keys on the PostgreSQL writer, with no lookup before the transaction.

The unit of work takes the key's lock with BEGIN and looks the key up in its first
statement after that, so concurrent retries of one key queue, and every retry after the
first answers with the first attempt's result, never with a second effect or an error
the first attempt caused (a version conflict on its own write, a taken SKU).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from catalog.domain import commands as c
from catalog.write.repositories import CatalogUnitOfWork
from tandem.bus import CommandBus
from tandem.db.postgres import Pool
from tandem.errors import ConcurrencyConflict, IdempotencyKeyReuse
from tandem.eventlog.postgres import PostgresEventLog
from tandem.middleware import idempotency
from tandem.uow.postgres import PostgresIdempotency
from tests.support.pg_writes import catalog_bus, migrated_pool
from tests.support.services import PostgresDatabase

pytestmark = [pytest.mark.services, pytest.mark.timeout(120)]


@pytest.fixture
async def pool(pg_database: PostgresDatabase) -> AsyncIterator[Pool]:
    async with migrated_pool(pg_database.url, min_size=2, max_size=12) as pool:
        yield pool


def _bus(pool: Pool) -> CommandBus[CatalogUnitOfWork]:
    return catalog_bus(pool, idempotency(PostgresIdempotency(pool), check_first=False))


async def _product(bus: CommandBus[CatalogUnitOfWork]) -> str:
    category = (await bus.dispatch(c.CreateCategory(name="Keys"))).id
    created = c.CreateProduct(
        sku="KEY-1", name="Key", category_id=category, price=Decimal("5"), initial_stock=1
    )
    return (await bus.dispatch(created)).id


async def test_concurrent_retries_of_one_key_have_one_effect_and_one_answer(pool: Pool) -> None:
    bus = _bus(pool)
    product = await _product(bus)
    command = c.ChangePrice(product_id=product, price=Decimal("7.5"), expected_version=1)
    results = await asyncio.gather(
        *(bus.dispatch(command, subject="s", idempotency_key="k-1") for _ in range(12))
    )
    assert len({(r.id, r.version, tuple(r.extra.items())) for r in results}) == 1
    events = await PostgresEventLog(pool).read_aggregate(product)
    assert [e.type for e in events].count("PriceChanged") == 1
    # A later retry replays too, though If-Match now names a stale version.
    again = await bus.dispatch(command, subject="s", idempotency_key="k-1")
    assert again == results[0]


async def test_a_key_reused_for_another_request_is_refused_and_writes_nothing(
    pool: Pool,
) -> None:
    bus = _bus(pool)
    product = await _product(bus)
    await bus.dispatch(
        c.ChangePrice(product_id=product, price=Decimal("8")), subject="s", idempotency_key="k"
    )
    head = len(await PostgresEventLog(pool).read_after(0, 1000))
    with pytest.raises(IdempotencyKeyReuse):
        await bus.dispatch(
            c.ChangePrice(product_id=product, price=Decimal("9")), subject="s", idempotency_key="k"
        )
    assert len(await PostgresEventLog(pool).read_after(0, 1000)) == head
    # The same key under another subject is another key.
    other = await bus.dispatch(
        c.ChangePrice(product_id=product, price=Decimal("9")), subject="t", idempotency_key="k"
    )
    assert other.version > 0


async def test_concurrent_creates_with_one_key_make_one_aggregate(pool: Pool) -> None:
    bus = _bus(pool)
    category = (await bus.dispatch(c.CreateCategory(name="Keys"))).id
    command = c.CreateProduct(
        sku="ONCE", name="Once", category_id=category, price=Decimal("1"), initial_stock=0
    )
    results = await asyncio.gather(
        *(bus.dispatch(command, subject="s", idempotency_key="create") for _ in range(8))
    )
    assert len({r.id for r in results}) == 1
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM products WHERE sku = 'ONCE'") == 1


async def test_a_stale_version_fails_without_a_partial_write(pool: Pool) -> None:
    bus = _bus(pool)
    product = await _product(bus)
    before = await PostgresEventLog(pool).read_aggregate(product)
    with pytest.raises(ConcurrencyConflict):
        await bus.dispatch(
            c.ChangePrice(product_id=product, price=Decimal("3"), expected_version=7),
            subject="s",
            idempotency_key="stale",
        )
    assert await PostgresEventLog(pool).read_aggregate(product) == before
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM tandem_idempotency") == 0
        assert await conn.fetchval("SELECT price FROM products WHERE id = $1", product) == "5.00"
