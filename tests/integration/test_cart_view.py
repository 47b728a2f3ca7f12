"""Cart view fed by the real write side's event log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from tests.support.folding import all_events, fold_into_write_database, fold_log

from catalog.domain import commands as c
from catalog.domain.errors import NotFound, NotOwner
from catalog.read_models.cart_view.sqlite import CartViewProjection
from catalog.read_models.cart_view.sqlite_reads import CartViewReads
from catalog.read_models.queries import GetCart
from catalog.runtime.embedded import EmbeddedRuntime
from tandem.bus import QueryBus
from tandem.messages import StoredEvent
from tandem.stores.sqlite import SqliteProjectionStore


class World:
    """A running catalog plus the cart-view read model in its own store."""

    def __init__(self, cat: EmbeddedRuntime, store: SqliteProjectionStore) -> None:
        self.cat = cat
        self.store = store
        self.projection = CartViewProjection()
        self.reads = CartViewReads(store.reader)

    async def do(self, command: Any) -> str:
        return (await self.cat.command_bus.dispatch(command)).id

    async def product(self, name: str, price: str, stock: int = 10, currency: str = "USD") -> str:
        if not hasattr(self, "root"):
            self.root = await self.do(c.CreateCategory(name="Root"))
        return await self.do(
            c.CreateProduct(
                sku=uuid4().hex[:12],
                name=name,
                category_id=self.root,
                price=Decimal(price),
                currency=currency,
                initial_stock=stock,
            )
        )

    async def add(self, cart: str, product: str, quantity: int, customer: str = "alice") -> None:
        await self.do(
            c.AddToCart(cart_id=cart, product_id=product, quantity=quantity, customer=customer)
        )

    async def events(self) -> list[StoredEvent]:
        return await all_events(self.cat)

    async def project(self) -> int:
        return await fold_log(self.cat, self.store, self.projection)

    async def cart(self, cart: str, customer: str = "alice", admin: bool = False) -> Any:
        await self.project()
        return await self.reads.get_cart(GetCart(cart_id=cart, customer=customer, admin=admin))


@pytest.fixture
async def world(catalog: EmbeddedRuntime, tmp_path: Path) -> AsyncIterator[World]:
    store = SqliteProjectionStore(tmp_path / "under-test" / "cart_view.db")
    try:
        yield World(catalog, store)
    finally:
        store.close()


async def test_cart_lines_sorted_by_name_with_totals(world: World) -> None:
    runner = await world.product("Trail runner", "19.99")
    socks = await world.product("Ankle socks", "4.50")
    cart = str(uuid4())
    await world.add(cart, runner, 1)
    await world.add(cart, socks, 2)
    await world.add(cart, runner, 2)  # the line grows to three

    assert await world.cart(cart) == {
        "id": cart,
        "owner": "alice",
        "lines": [
            {
                "product_id": socks,
                "name": "Ankle socks",
                "unit_price": "4.50",
                "quantity": 2,
                "line_total": "9.00",
            },
            {
                "product_id": runner,
                "name": "Trail runner",
                "unit_price": "19.99",
                "quantity": 3,
                "line_total": "59.97",
            },
        ],
        "subtotal": "68.97",
        "currency": "USD",
    }


async def test_price_and_name_changes_reach_every_cart_holding_the_product(
    world: World,
) -> None:
    runner = await world.product("Trail runner", "19.99")
    socks = await world.product("Ankle socks", "4.50")
    first, second = str(uuid4()), str(uuid4())
    await world.add(first, runner, 1)
    await world.add(first, socks, 1)
    await world.add(second, runner, 2, customer="bob")
    await world.do(c.ChangePrice(product_id=runner, price=Decimal("15")))
    await world.do(c.UpdateProductDetails(product_id=runner, name="All-terrain runner"))

    mine = await world.cart(first)
    assert [(line["name"], line["unit_price"]) for line in mine["lines"]] == [
        ("All-terrain runner", "15.00"),
        ("Ankle socks", "4.50"),
    ]
    assert mine["subtotal"] == "19.50"
    bobs = await world.cart(second, customer="bob")
    assert bobs["lines"][0]["name"] == "All-terrain runner"
    assert (bobs["lines"][0]["line_total"], bobs["subtotal"]) == ("30.00", "30.00")


async def test_removing_an_item_drops_its_line(world: World) -> None:
    runner = await world.product("Trail runner", "19.99")
    socks = await world.product("Ankle socks", "4.50")
    cart = str(uuid4())
    await world.add(cart, runner, 1)
    await world.add(cart, socks, 1)
    await world.do(c.RemoveFromCart(cart_id=cart, product_id=socks, customer="alice"))
    view = await world.cart(cart)
    assert [line["product_id"] for line in view["lines"]] == [runner]
    assert view["subtotal"] == "19.99"


async def test_checkout_empties_the_cart(world: World) -> None:
    runner = await world.product("Trail runner", "19.99")
    cart = str(uuid4())
    await world.add(cart, runner, 1)
    await world.do(c.PlaceOrder(cart_id=cart, customer="alice"))
    view = await world.cart(cart)
    assert (view["lines"], view["subtotal"], view["currency"]) == ([], "0.00", None)
    # The emptied cart can be filled again.
    await world.add(cart, runner, 2)
    assert (await world.cart(cart))["subtotal"] == "39.98"


async def test_mixed_currencies_have_no_single_currency(world: World) -> None:
    cart = str(uuid4())
    await world.add(cart, await world.product("Dollar thing", "1.00"), 1)
    await world.add(cart, await world.product("Euro thing", "2.00", currency="EUR"), 1)
    assert (await world.cart(cart))["currency"] is None


async def test_only_the_owner_or_an_admin_reads_a_cart(world: World) -> None:
    cart = str(uuid4())
    await world.add(cart, await world.product("Trail runner", "19.99"), 1)
    with pytest.raises(NotOwner):
        await world.cart(cart, customer="mallory")
    view = await world.cart(cart, customer="support", admin=True)
    assert view["owner"] == "alice"


async def test_unknown_cart_is_not_found(world: World) -> None:
    await world.project()
    missing = str(uuid4())
    with pytest.raises(NotFound) as info:
        await world.cart(missing, admin=True)
    assert (info.value.kind, info.value.id) == ("cart", missing)


async def test_applying_the_same_batch_twice_changes_nothing(world: World) -> None:
    runner = await world.product("Trail runner", "19.99")
    cart = str(uuid4())
    await world.add(cart, runner, 1)
    await world.add(cart, runner, 1)
    checkpoint = await world.project()
    before = await world.cart(cart)
    assert await world.store.apply(world.projection, await world.events()) == checkpoint
    assert await world.cart(cart) == before
    assert before["lines"][0]["quantity"] == 2


async def test_get_cart_is_bound_to_the_cart_view_read_model(world: World) -> None:
    cart = str(uuid4())
    await world.add(cart, await world.product("Trail runner", "19.99"), 1)
    await world.project()
    bus = QueryBus()
    world.reads.register(bus)
    assert bus.read_model_of(GetCart) == "cart_view"
    result = await bus.ask(GetCart(cart_id=cart, customer="alice"))
    assert result.value["id"] == cart


async def test_runs_inside_the_write_database_beside_the_write_tables(world: World) -> None:
    # cart_view defaults to sync mode, where its tables share the write database with
    # the write model's own `carts` and `products`.
    cart = str(uuid4())
    await world.add(cart, await world.product("Trail runner", "19.99"), 1)
    events = await world.events()
    applied = await fold_into_write_database(world.cat, CartViewProjection())
    assert applied == events[-1].position
    reads = CartViewReads(world.cat.write_reader)
    view = await reads.get_cart(GetCart(cart_id=cart, customer="alice"))
    assert view["subtotal"] == "19.99"
