"""Commands on one aggregate, racing on PostgreSQL, land in the log in version order.

Positions follow transaction ids. A transaction that took its id, then waited for the
aggregate held by a younger transaction, would append the aggregate's next version at
a lower position than the version before it, and every projection would apply them in
the wrong order (a stock of 1 shown after the last unit sold). Aggregates are therefore
serialized by locks that assign no transaction id; ids are taken by the first write,
once every lock is held.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from catalog.domain import commands as c
from catalog.domain.errors import DomainError
from catalog.write.repositories import CatalogUnitOfWork
from tandem.bus import CommandBus
from tandem.db.postgres import Pool
from tandem.eventlog.postgres import PostgresEventLog
from tests.support.pg_writes import catalog_bus, migrated_pool
from tests.support.services import PostgresDatabase

pytestmark = [pytest.mark.services, pytest.mark.timeout(120)]


@pytest.fixture
async def pool(pg_database: PostgresDatabase) -> AsyncIterator[Pool]:
    async with migrated_pool(pg_database.url, min_size=4, max_size=24) as pool:
        yield pool


def _bus(pool: Pool) -> CommandBus[CatalogUnitOfWork]:
    return catalog_bus(pool)


async def test_racing_commands_on_one_product_append_its_versions_in_order(pool: Pool) -> None:
    bus = _bus(pool)
    category = (await bus.dispatch(c.CreateCategory(name="Race"))).id
    product = (
        await bus.dispatch(
            c.CreateProduct(
                sku="RACE", name="Race", category_id=category, price=Decimal("1"), initial_stock=6
            )
        )
    ).id
    carts = [str(uuid.uuid4()) for _ in range(16)]
    for cart in carts:
        await bus.dispatch(
            c.AddToCart(cart_id=cart, product_id=product, quantity=1, customer="race")
        )

    async def attempt(command: c.Command) -> None:
        with contextlib.suppress(DomainError):  # out of stock: refused, nothing appended
            await bus.dispatch(command)

    for _round in range(3):
        commands: list[c.Command] = [
            c.PlaceOrder(cart_id=cart, customer="race") for cart in carts[:8]
        ]
        commands += [
            c.AdjustStock(product_id=product, delta=1, reason="delivery") for _ in range(8)
        ]
        await asyncio.gather(*(attempt(command) for command in commands))
        carts = carts[8:] + [str(uuid.uuid4()) for _ in range(8)]
        for cart in carts[-8:]:
            await bus.dispatch(
                c.AddToCart(cart_id=cart, product_id=product, quantity=1, customer="race")
            )
    events = await PostgresEventLog(pool).read_after(0, 10_000)
    versions: dict[str, int] = {}
    for event in events:
        expected = versions.get(event.aggregate_id, 0) + 1
        assert event.aggregate_version == expected, (
            f"{event.aggregate_type} {event.aggregate_id}: version {event.aggregate_version}"
            f" at position {event.position}, after version {expected - 1}"
        )
        versions[event.aggregate_id] = event.aggregate_version
