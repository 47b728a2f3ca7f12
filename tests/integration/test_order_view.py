"""Order view fed by the real write side's event log."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from tests.support.folding import all_events, fold_log

from catalog.domain import commands as c
from catalog.domain.errors import NotFound, NotOwner
from catalog.read_models.order_view.rules import iso_utc
from catalog.read_models.order_view.sqlite import OrderViewProjection
from catalog.read_models.order_view.sqlite_reads import OrderViewReads
from catalog.read_models.queries import GetOrder
from catalog.runtime.embedded import EmbeddedRuntime
from tandem.bus import QueryBus
from tandem.messages import StoredEvent
from tandem.stores.sqlite import SqliteProjectionStore


class World:
    """A running catalog plus the order-view read model in its own store."""

    def __init__(self, cat: EmbeddedRuntime, store: SqliteProjectionStore) -> None:
        self.cat = cat
        self.store = store
        self.projection = OrderViewProjection()
        self.reads = OrderViewReads(store.reader)

    async def do(self, command: Any) -> str:
        return (await self.cat.command_bus.dispatch(command)).id

    async def product(self, sku: str, name: str, price: str) -> str:
        if not hasattr(self, "root"):
            self.root = await self.do(c.CreateCategory(name="Root"))
        return await self.do(
            c.CreateProduct(
                sku=sku, name=name, category_id=self.root, price=Decimal(price), initial_stock=9
            )
        )

    async def order(self, lines: dict[str, int], customer: str = "alice") -> str:
        cart = str(uuid4())
        for product, quantity in lines.items():
            await self.do(
                c.AddToCart(cart_id=cart, product_id=product, quantity=quantity, customer=customer)
            )
        return await self.do(c.PlaceOrder(cart_id=cart, customer=customer))

    async def events(self) -> list[StoredEvent]:
        return await all_events(self.cat)

    async def project(self) -> int:
        return await fold_log(self.cat, self.store, self.projection)

    async def view(self, order: str, customer: str = "alice", admin: bool = False) -> Any:
        await self.project()
        return await self.reads.get_order(GetOrder(order_id=order, customer=customer, admin=admin))


@pytest.fixture
async def world(catalog: EmbeddedRuntime, tmp_path: Path) -> AsyncIterator[World]:
    store = SqliteProjectionStore(tmp_path / "under-test" / "order_view.db")
    try:
        yield World(catalog, store)
    finally:
        store.close()


async def test_order_shows_lines_and_prices_captured_at_checkout(world: World) -> None:
    runner = await world.product("RUN-1", "Trail runner", "19.99")
    socks = await world.product("SOCK-1", "Ankle socks", "4.5")
    before = time.time()
    order = await world.order({runner: 2, socks: 1})
    # Later catalog changes must not rewrite what the customer bought.
    await world.do(c.ChangePrice(product_id=runner, price=Decimal("99.00")))
    await world.do(c.UpdateProductDetails(product_id=socks, name="Renamed"))

    view = await world.view(order)
    placed_at = datetime.fromisoformat(view.pop("placed_at"))
    assert placed_at.utcoffset() == timedelta(0)
    assert before - 1 <= placed_at.timestamp() <= time.time() + 1
    expected_lines: list[dict[str, Any]] = [
        {
            "product_id": runner,
            "sku": "RUN-1",
            "name": "Trail runner",
            "quantity": 2,
            "unit_price": "19.99",
            "line_total": "39.98",
        },
        {
            "product_id": socks,
            "sku": "SOCK-1",
            "name": "Ankle socks",
            "quantity": 1,
            "unit_price": "4.50",
            "line_total": "4.50",
        },
    ]
    assert view == {
        "id": order,
        "customer": "alice",
        "status": "placed",
        # Checkout records lines in product-id order.
        "lines": sorted(expected_lines, key=lambda line: str(line["product_id"])),
        "total": "44.48",
        "currency": "USD",
        "contact": None,  # the checkout gave none
    }


async def test_cancelling_marks_the_order_cancelled(world: World) -> None:
    order = await world.order({await world.product("RUN-1", "Trail runner", "19.99"): 1})
    await world.do(c.CancelOrder(order_id=order, customer="alice"))
    view = await world.view(order)
    assert (view["status"], view["total"]) == ("cancelled", "19.99")


async def test_only_the_customer_or_an_admin_reads_an_order(world: World) -> None:
    order = await world.order({await world.product("RUN-1", "Trail runner", "19.99"): 1})
    with pytest.raises(NotOwner):
        await world.view(order, customer="mallory")
    assert (await world.view(order, customer="support", admin=True))["customer"] == "alice"


async def test_unknown_order_is_not_found(world: World) -> None:
    await world.project()
    missing = str(uuid4())
    with pytest.raises(NotFound) as info:
        await world.view(missing, admin=True)
    assert (info.value.kind, info.value.id) == ("order", missing)


async def test_applying_the_same_batch_twice_changes_nothing(world: World) -> None:
    order = await world.order({await world.product("RUN-1", "Trail runner", "19.99"): 1})
    await world.do(c.CancelOrder(order_id=order, customer="alice"))
    checkpoint = await world.project()
    before = await world.view(order)
    assert await world.store.apply(world.projection, await world.events()) == checkpoint
    assert await world.view(order) == before


async def test_get_order_is_bound_to_the_order_view_read_model(world: World) -> None:
    order = await world.order({await world.product("RUN-1", "Trail runner", "19.99"): 1})
    await world.project()
    bus = QueryBus()
    world.reads.register(bus)
    assert bus.read_model_of(GetOrder) == "order_view"
    result = await bus.ask(GetOrder(order_id=order, customer="alice"))
    assert result.value["id"] == order


def test_placed_at_is_iso_8601_in_utc() -> None:
    assert iso_utc(0) == "1970-01-01T00:00:00.000Z"
    assert iso_utc(1_700_000_000.25) == "2023-11-14T22:13:20.250Z"
