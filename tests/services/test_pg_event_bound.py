"""Events over the log's size bound on PostgreSQL, on both command paths (the
optimistic one-statement commit and the locking path): the command fails with
`EventTooLarge` and writes nothing (no row, no event)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from catalog.domain import commands as c
from catalog.domain.events import ALL_EVENTS
from catalog.write.postgres import SAVERS
from tandem.codec import EventRegistry
from tandem.db.postgres import Pool
from tandem.errors import EventTooLarge
from tandem.uow.postgres import PostgresWriter
from tests.support.pg_writes import catalog_bus, migrated_pool
from tests.support.services import PostgresDatabase

pytestmark = [pytest.mark.services, pytest.mark.timeout(120)]

BOUND = 2048


@pytest.fixture
async def pool(pg_database: PostgresDatabase) -> AsyncIterator[Pool]:
    async with migrated_pool(pg_database.url, min_size=1, max_size=4) as pool:
        yield pool


@pytest.mark.parametrize("optimistic", [True, False], ids=["optimistic", "locking"])
async def test_an_event_over_the_bound_fails_the_command_and_writes_nothing(
    pool: Pool, optimistic: bool
) -> None:
    registry = EventRegistry()
    registry.register(*ALL_EVENTS)
    writer = PostgresWriter(pool, registry, SAVERS, optimistic=optimistic, max_event_bytes=BOUND)
    bus = catalog_bus(pool, writer=writer)
    category = (await bus.dispatch(c.CreateCategory(name="Bounded"))).id
    async with pool.acquire() as conn:
        before = await conn.fetchval("SELECT count(*) FROM tandem_events")
    product = str(uuid.uuid4())
    with pytest.raises(EventTooLarge) as refused:
        await bus.dispatch(
            c.CreateProduct(
                id=product,
                sku="BIG-1",
                name="Verbose",
                description="x" * BOUND,
                category_id=category,
                price=Decimal("1"),
            )
        )
    assert refused.value.limit == BOUND and refused.value.event_type == "ProductCreated"
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM tandem_events") == before
        assert await conn.fetchval("SELECT count(*) FROM products WHERE id = $1", product) == 0
    # A product that fits goes through.
    fits = c.CreateProduct(
        sku="SMALL-1", name="Terse", category_id=category, price=Decimal("1"), description="ok"
    )
    assert (await bus.dispatch(fits)).version > 0
