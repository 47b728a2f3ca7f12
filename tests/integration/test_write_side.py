"""The write side end to end: every command through the command bus of a real catalog."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from catalog.domain import commands as c
from catalog.domain.errors import (
    CategoryCycle,
    DuplicateId,
    DuplicateSku,
    EmptyCart,
    InsufficientStock,
    InvalidInput,
    MixedCurrencies,
    NotFound,
    NotInCart,
    NotOwner,
    OrderNotCancellable,
    ProductDiscontinued,
)
from catalog.runtime.embedded import EmbeddedRuntime
from catalog.write.handlers import MAX_CATEGORY_DEPTH
from tandem.errors import ConcurrencyConflict, IdempotencyKeyReuse
from tandem.messages import Command, StoredEvent
from tandem.uow import CommandResult

# --- helpers ---------------------------------------------------------------------------


def new_id() -> str:
    return str(uuid.uuid4())


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of a SQLite file, in a stable order."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {
            table: sorted(
                (tuple(row) for row in conn.execute(f'SELECT * FROM "{table}"')), key=repr
            )
            for table in tables
        }


def query(cat: EmbeddedRuntime, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with contextlib.closing(
        sqlite3.connect(f"file:{cat.settings.write_database}?mode=ro", uri=True)
    ) as conn:
        return [tuple(row) for row in conn.execute(sql, params)]


def stock_of(cat: EmbeddedRuntime, product_id: str) -> int:
    [(stock,)] = query(cat, "SELECT stock FROM products WHERE id = ?", product_id)
    return int(stock)


async def all_events(cat: EmbeddedRuntime) -> list[StoredEvent]:
    return await cat.log_reader.read_after(0, 1000)


async def events_after(cat: EmbeddedRuntime, position: int) -> list[StoredEvent]:
    return await cat.log_reader.read_after(position, 1000)


async def run(cat: EmbeddedRuntime, command: Command, **kwargs: Any) -> CommandResult:
    return await cat.command_bus.dispatch(command, **kwargs)


async def category(cat: EmbeddedRuntime, name: str = "Kitchen", parent: str | None = None) -> str:
    return (await run(cat, c.CreateCategory(name=name, parent_id=parent))).id


async def product(
    cat: EmbeddedRuntime,
    category_id: str,
    *,
    sku: str | None = None,
    price: str = "10.00",
    stock: int = 10,
    currency: str = "USD",
) -> str:
    result = await run(
        cat,
        c.CreateProduct(
            sku=sku or f"SKU-{uuid.uuid4().hex[:8]}",
            name="Blue Mug",
            category_id=category_id,
            price=Decimal(price),
            currency=currency,
            initial_stock=stock,
        ),
    )
    return result.id


async def cart_with(cat: EmbeddedRuntime, customer: str, lines: dict[str, int]) -> str:
    cart_id = new_id()
    for product_id, quantity in lines.items():
        await run(
            cat,
            c.AddToCart(
                cart_id=cart_id, product_id=product_id, quantity=quantity, customer=customer
            ),
        )
    return cart_id


@dataclass
class World:
    category: str
    product: str
    other_product: str
    discontinued: str
    cart: str
    empty_cart: str
    order: str


@pytest.fixture
async def world(catalog: EmbeddedRuntime) -> World:
    """A category, products, alice's cart and empty cart, and bob's order."""
    category_id = await category(catalog)
    product_id = await product(catalog, category_id, sku="MUG-1", stock=5)
    other_id = await product(catalog, category_id, sku="MUG-2", stock=3)
    discontinued = await product(catalog, category_id, sku="OLD-1", stock=3)
    await run(catalog, c.DiscontinueProduct(product_id=discontinued))
    cart_id = await cart_with(catalog, "alice", {product_id: 1, other_id: 1})
    empty_cart = await cart_with(catalog, "alice", {other_id: 1})
    await run(catalog, c.RemoveFromCart(cart_id=empty_cart, product_id=other_id, customer="alice"))
    bob_cart = await cart_with(catalog, "bob", {product_id: 1})
    order = await run(catalog, c.PlaceOrder(cart_id=bob_cart, customer="bob"))
    return World(category_id, product_id, other_id, discontinued, cart_id, empty_cart, order.id)


# --- categories ------------------------------------------------------------------------


async def test_create_category_writes_the_row_and_one_event(catalog: EmbeddedRuntime) -> None:
    result = await run(catalog, c.CreateCategory(name="  Kitchen & Dining "))

    assert result.created is True
    assert str(uuid.UUID(result.id)) == result.id
    assert query(catalog, "SELECT id, name, slug, parent_id, version FROM categories") == [
        (result.id, "Kitchen & Dining", "kitchen-dining", None, 1)
    ]
    [event] = await all_events(catalog)
    assert (event.type, event.aggregate_id, event.aggregate_version) == (
        "CategoryCreated",
        result.id,
        1,
    )
    assert event.data == {"name": "Kitchen & Dining", "slug": "kitchen-dining", "parent_id": None}
    assert result.version == event.position


async def test_create_category_under_a_parent(catalog: EmbeddedRuntime) -> None:
    root = await category(catalog, "Home")
    child = await category(catalog, "Kitchen", root)
    assert query(catalog, "SELECT parent_id FROM categories WHERE id = ?", child) == [(root,)]


async def test_create_category_under_an_unknown_parent_is_not_found(
    catalog: EmbeddedRuntime,
) -> None:
    missing = new_id()
    with pytest.raises(NotFound) as err:
        await run(catalog, c.CreateCategory(name="Orphan", parent_id=missing))
    assert (err.value.kind, err.value.id) == ("category", missing)


async def test_categories_nest_at_most_the_maximum_depth(catalog: EmbeddedRuntime) -> None:
    parent: str | None = None
    for level in range(MAX_CATEGORY_DEPTH):
        parent = await category(catalog, f"Level {level}", parent)
    with pytest.raises(CategoryCycle):
        await run(catalog, c.CreateCategory(name="Too deep", parent_id=parent))


async def test_a_client_supplied_category_id_is_used_once(catalog: EmbeddedRuntime) -> None:
    id = new_id()
    result = await run(catalog, c.CreateCategory(name="Books", id=id))
    assert result.id == id
    with pytest.raises(DuplicateId):
        await run(catalog, c.CreateCategory(name="Other", id=id))
    with pytest.raises(DuplicateId):
        await run(catalog, c.CreateCategory(name="Other", id=id.upper()))


async def test_a_client_supplied_id_must_be_a_uuid(catalog: EmbeddedRuntime) -> None:
    with pytest.raises(InvalidInput) as err:
        await run(catalog, c.CreateCategory(name="Books", id="not-a-uuid"))
    assert err.value.field == "id"


async def test_rename_category(catalog: EmbeddedRuntime) -> None:
    id = await category(catalog, "Books")
    result = await run(catalog, c.RenameCategory(category_id=id, name="Rare Books"))
    assert result.extra["aggregate_version"] == 2
    assert query(catalog, "SELECT name, slug, version FROM categories") == [
        ("Rare Books", "rare-books", 2)
    ]
    event = (await all_events(catalog))[-1]
    assert (event.type, event.aggregate_version, event.position) == (
        "CategoryRenamed",
        2,
        result.version,
    )


async def test_rename_an_unknown_category_is_not_found(catalog: EmbeddedRuntime) -> None:
    with pytest.raises(NotFound):
        await run(catalog, c.RenameCategory(category_id=new_id(), name="X"))


async def test_rename_with_a_stale_expected_version_conflicts(catalog: EmbeddedRuntime) -> None:
    id = await category(catalog, "Books")
    await run(catalog, c.RenameCategory(category_id=id, name="Novels", expected_version=1))
    with pytest.raises(ConcurrencyConflict) as err:
        await run(catalog, c.RenameCategory(category_id=id, name="Comics", expected_version=1))
    assert (err.value.expected, err.value.actual) == (1, 2)
    assert query(catalog, "SELECT name FROM categories") == [("Novels",)]


async def test_rename_rejects_an_invalid_name(catalog: EmbeddedRuntime) -> None:
    id = await category(catalog, "Books")
    with pytest.raises(InvalidInput):
        await run(catalog, c.RenameCategory(category_id=id, name="  "))


# --- products --------------------------------------------------------------------------


async def test_create_product_writes_the_row_and_one_event(catalog: EmbeddedRuntime) -> None:
    category_id = await category(catalog)
    result = await run(
        catalog,
        c.CreateProduct(
            sku=" MUG-1 ",
            name="Blue Mug",
            category_id=category_id,
            price=Decimal("19.9"),
            attributes={"color": "blue"},
            initial_stock=7,
        ),
    )

    assert result.created is True
    assert result.extra["aggregate_version"] == 1
    assert query(
        catalog,
        "SELECT sku, price, price_cents, currency, stock, status, version FROM products",
    ) == [("MUG-1", "19.90", 1990, "USD", 7, "active", 1)]
    event = (await all_events(catalog))[-1]
    assert (event.type, event.aggregate_type, event.aggregate_id, event.position) == (
        "ProductCreated",
        "product",
        result.id,
        result.version,
    )
    assert event.data["price"] == "19.90"
    assert event.data["stock"] == 7


async def test_create_product_in_an_unknown_category_is_not_found(catalog: EmbeddedRuntime) -> None:
    with pytest.raises(NotFound) as err:
        await product(catalog, new_id())
    assert err.value.kind == "category"


async def test_skus_are_unique_even_when_sent_with_spaces(catalog: EmbeddedRuntime) -> None:
    category_id = await category(catalog)
    await product(catalog, category_id, sku="MUG-1")
    with pytest.raises(DuplicateSku):
        await product(catalog, category_id, sku="MUG-1")
    with pytest.raises(DuplicateSku):
        await product(catalog, category_id, sku="  MUG-1\t")
    assert query(catalog, "SELECT count(*) FROM products") == [(1,)]


async def test_a_client_supplied_product_id_is_used_once(catalog: EmbeddedRuntime) -> None:
    category_id = await category(catalog)
    id = new_id()
    command = c.CreateProduct(sku="A", name="A", category_id=category_id, price=Decimal("1"), id=id)
    assert (await run(catalog, command)).id == id
    with pytest.raises(DuplicateId):
        await run(
            catalog,
            c.CreateProduct(sku="B", name="B", category_id=category_id, price=Decimal(1), id=id),
        )


@pytest.mark.parametrize(
    "change",
    [
        {"price": Decimal("-1")},
        {"price": Decimal("1.001")},
        {"price": Decimal("NaN")},
        {"name": ""},
        {"currency": "usd"},
        {"initial_stock": -1},
        {"attributes": {f"k{i}": "v" for i in range(51)}},
    ],
)
async def test_create_product_rejects_invalid_input(
    catalog: EmbeddedRuntime, change: dict[str, Any]
) -> None:
    category_id = await category(catalog)
    fields: dict[str, Any] = {
        "sku": "MUG-1",
        "name": "Mug",
        "category_id": category_id,
        "price": Decimal("1.00"),
    }
    fields.update(change)
    with pytest.raises(InvalidInput):
        await run(catalog, c.CreateProduct(**fields))
    assert query(catalog, "SELECT count(*) FROM products") == [(0,)]


async def test_update_product_details(catalog: EmbeddedRuntime) -> None:
    first = await category(catalog, "Mugs")
    second = await category(catalog, "Cups")
    id = await product(catalog, first)
    result = await run(
        catalog,
        c.UpdateProductDetails(
            product_id=id, name="Red Mug", attributes={"color": "red"}, category_id=second
        ),
    )
    assert result.extra["aggregate_version"] == 2
    [(name, category_id, attributes, version)] = query(
        catalog, "SELECT name, category_id, attributes, version FROM products"
    )
    assert (name, category_id, orjson.loads(attributes), version) == (
        "Red Mug",
        second,
        {"color": "red"},
        2,
    )
    event = (await all_events(catalog))[-1]
    assert event.type == "ProductDetailsUpdated"
    assert (event.data["category_id"], event.data["previous_category_id"]) == (second, first)


async def test_update_details_of_an_unknown_product_or_into_an_unknown_category(
    catalog: EmbeddedRuntime,
) -> None:
    id = await product(catalog, await category(catalog))
    with pytest.raises(NotFound) as err:
        await run(catalog, c.UpdateProductDetails(product_id=new_id(), name="X"))
    assert err.value.kind == "product"
    with pytest.raises(NotFound) as err:
        await run(catalog, c.UpdateProductDetails(product_id=id, category_id=new_id()))
    assert err.value.kind == "category"


async def test_change_price(catalog: EmbeddedRuntime) -> None:
    id = await product(catalog, await category(catalog), price="10.00")
    result = await run(catalog, c.ChangePrice(product_id=id, price=Decimal("12.5")))
    assert query(catalog, "SELECT price, price_cents, version FROM products") == [
        ("12.50", 1250, 2)
    ]
    event = (await all_events(catalog))[-1]
    assert (event.type, event.position) == ("PriceChanged", result.version)
    assert event.data == {"price": "12.50", "previous_price": "10.00", "currency": "USD"}


async def test_change_price_of_an_unknown_product_is_not_found(catalog: EmbeddedRuntime) -> None:
    with pytest.raises(NotFound):
        await run(catalog, c.ChangePrice(product_id=new_id(), price=Decimal("1")))


@pytest.mark.parametrize(
    "make",
    [
        lambda id, v: c.ChangePrice(product_id=id, price=Decimal("2"), expected_version=v),
        lambda id, v: c.AdjustStock(product_id=id, delta=1, reason="r", expected_version=v),
        lambda id, v: c.UpdateProductDetails(product_id=id, name="N", expected_version=v),
        lambda id, v: c.DiscontinueProduct(product_id=id, expected_version=v),
    ],
    ids=["ChangePrice", "AdjustStock", "UpdateProductDetails", "DiscontinueProduct"],
)
async def test_product_commands_check_the_expected_version(
    catalog: EmbeddedRuntime, make: Callable[[str, int], Command]
) -> None:
    id = await product(catalog, await category(catalog))
    await run(catalog, c.ChangePrice(product_id=id, price=Decimal("3")))
    before = dump(catalog.settings.write_database)
    for stale in (1, 3):
        with pytest.raises(ConcurrencyConflict) as err:
            await run(catalog, make(id, stale))
        assert (err.value.aggregate_id, err.value.expected, err.value.actual) == (id, stale, 2)
    assert dump(catalog.settings.write_database) == before
    await run(catalog, make(id, 2))
    assert query(catalog, "SELECT version FROM products") == [(3,)]


async def test_adjust_stock_down_to_exactly_zero_and_no_further(catalog: EmbeddedRuntime) -> None:
    id = await product(catalog, await category(catalog), stock=5)
    await run(catalog, c.AdjustStock(product_id=id, delta=-5, reason="sold"))
    assert stock_of(catalog, id) == 0
    event = (await all_events(catalog))[-1]
    assert (event.type, event.data) == (
        "StockAdjusted",
        {"delta": -5, "reason": "sold", "stock": 0},
    )
    with pytest.raises(InsufficientStock):
        await run(catalog, c.AdjustStock(product_id=id, delta=-1, reason="sold"))
    assert stock_of(catalog, id) == 0
    await run(catalog, c.AdjustStock(product_id=id, delta=4, reason="delivery"))
    assert stock_of(catalog, id) == 4


async def test_adjust_stock_of_an_unknown_product_is_not_found(catalog: EmbeddedRuntime) -> None:
    with pytest.raises(NotFound):
        await run(catalog, c.AdjustStock(product_id=new_id(), delta=1, reason="r"))


async def test_a_discontinued_product_rejects_changes_and_sales(catalog: EmbeddedRuntime) -> None:
    id = await product(catalog, await category(catalog))
    await run(catalog, c.DiscontinueProduct(product_id=id))
    assert query(catalog, "SELECT status FROM products") == [("discontinued",)]
    for command in (
        c.ChangePrice(product_id=id, price=Decimal("1")),
        c.UpdateProductDetails(product_id=id, name="New"),
        c.DiscontinueProduct(product_id=id),
        c.AddToCart(cart_id=new_id(), product_id=id, quantity=1, customer="alice"),
    ):
        with pytest.raises(ProductDiscontinued):
            await run(catalog, command)
    assert query(catalog, "SELECT count(*) FROM carts") == [(0,)]


# --- carts -----------------------------------------------------------------------------


async def test_add_to_cart_opens_the_cart_and_adds_the_line(catalog: EmbeddedRuntime) -> None:
    id = await product(catalog, await category(catalog), stock=5)
    cart_id = new_id()
    first = await run(
        catalog, c.AddToCart(cart_id=cart_id, product_id=id, quantity=2, customer="alice")
    )
    second = await run(
        catalog, c.AddToCart(cart_id=cart_id, product_id=id, quantity=3, customer="alice")
    )

    assert (first.id, first.extra["aggregate_version"]) == (cart_id, 2)
    assert second.extra["aggregate_version"] == 3
    assert query(catalog, "SELECT owner, version FROM carts") == [("alice", 3)]
    assert query(catalog, "SELECT product_id, quantity FROM cart_lines") == [(id, 5)]
    events = [e for e in await all_events(catalog) if e.aggregate_id == cart_id]
    assert [(e.type, e.aggregate_version) for e in events] == [
        ("CartOpened", 1),
        ("CartItemAdded", 2),
        ("CartItemAdded", 3),
    ]
    assert events[2].data == {"product_id": id, "quantity": 3, "line_quantity": 5}
    assert stock_of(catalog, id) == 5  # a cart does not take stock


async def test_add_to_cart_of_an_unknown_product_opens_no_cart(catalog: EmbeddedRuntime) -> None:
    with pytest.raises(NotFound):
        await run(
            catalog,
            c.AddToCart(cart_id=new_id(), product_id=new_id(), quantity=1, customer="alice"),
        )
    assert query(catalog, "SELECT count(*) FROM carts") == [(0,)]
    assert await all_events(catalog) == []


async def test_add_more_than_stock_to_a_cart(catalog: EmbeddedRuntime) -> None:
    id = await product(catalog, await category(catalog), stock=2)
    cart_id = await cart_with(catalog, "alice", {id: 2})
    with pytest.raises(InsufficientStock):
        await run(
            catalog, c.AddToCart(cart_id=cart_id, product_id=id, quantity=1, customer="alice")
        )
    assert query(catalog, "SELECT quantity FROM cart_lines") == [(2,)]


async def test_another_customers_cart_is_off_limits_except_to_an_admin(
    catalog: EmbeddedRuntime, world: World
) -> None:
    add = c.AddToCart(cart_id=world.cart, product_id=world.product, quantity=1, customer="eve")
    with pytest.raises(NotOwner):
        await run(catalog, add)
    with pytest.raises(NotOwner):
        await run(
            catalog,
            c.RemoveFromCart(cart_id=world.cart, product_id=world.product, customer="eve"),
        )
    with pytest.raises(NotOwner):
        await run(catalog, c.PlaceOrder(cart_id=world.cart, customer="eve"))

    await run(
        catalog,
        c.AddToCart(
            cart_id=world.cart, product_id=world.product, quantity=1, customer="eve", admin=True
        ),
    )
    await run(
        catalog,
        c.RemoveFromCart(
            cart_id=world.cart, product_id=world.other_product, customer="eve", admin=True
        ),
    )
    order = await run(catalog, c.PlaceOrder(cart_id=world.cart, customer="eve", admin=True))
    assert query(catalog, "SELECT customer FROM orders WHERE id = ?", order.id) == [("alice",)]
    assert query(catalog, "SELECT owner FROM carts WHERE id = ?", world.cart) == [("alice",)]


async def test_remove_from_cart(catalog: EmbeddedRuntime, world: World) -> None:
    result = await run(
        catalog, c.RemoveFromCart(cart_id=world.cart, product_id=world.product, customer="alice")
    )
    assert query(catalog, "SELECT product_id FROM cart_lines WHERE cart_id = ?", world.cart) == [
        (world.other_product,)
    ]
    event = (await all_events(catalog))[-1]
    assert (event.type, event.position, event.data) == (
        "CartItemRemoved",
        result.version,
        {"product_id": world.product},
    )


async def test_remove_from_an_unknown_cart_or_a_missing_line(
    catalog: EmbeddedRuntime, world: World
) -> None:
    with pytest.raises(NotFound):
        await run(
            catalog, c.RemoveFromCart(cart_id=new_id(), product_id=world.product, customer="a")
        )
    with pytest.raises(NotInCart):
        await run(
            catalog,
            c.RemoveFromCart(cart_id=world.cart, product_id=world.discontinued, customer="alice"),
        )


async def test_cart_commands_check_the_expected_version(
    catalog: EmbeddedRuntime, world: World
) -> None:
    # alice's cart: opened, two lines added -> version 3
    with pytest.raises(ConcurrencyConflict):
        await run(
            catalog,
            c.AddToCart(
                cart_id=world.cart,
                product_id=world.product,
                quantity=1,
                customer="alice",
                expected_version=2,
            ),
        )
    with pytest.raises(ConcurrencyConflict):
        await run(
            catalog,
            c.RemoveFromCart(
                cart_id=world.cart, product_id=world.product, customer="alice", expected_version=4
            ),
        )
    with pytest.raises(ConcurrencyConflict):
        await run(catalog, c.PlaceOrder(cart_id=world.cart, customer="alice", expected_version=1))
    with pytest.raises(ConcurrencyConflict):
        await run(
            catalog,
            c.AddToCart(
                cart_id=new_id(),
                product_id=world.product,
                quantity=1,
                customer="alice",
                expected_version=1,
            ),
        )
    await run(
        catalog,
        c.RemoveFromCart(
            cart_id=world.cart, product_id=world.product, customer="alice", expected_version=3
        ),
    )


async def test_a_cart_is_found_by_the_id_it_was_opened_with(catalog: EmbeddedRuntime) -> None:
    id = await product(catalog, await category(catalog))
    cart_id = new_id().upper()
    await run(catalog, c.AddToCart(cart_id=cart_id, product_id=id, quantity=1, customer="alice"))
    await run(catalog, c.PlaceOrder(cart_id=cart_id, customer="alice"))


# --- orders ----------------------------------------------------------------------------


async def test_place_order_takes_stock_captures_prices_and_empties_the_cart(
    catalog: EmbeddedRuntime,
) -> None:
    category_id = await category(catalog)
    mug = await product(catalog, category_id, price="19.99", stock=5)
    cup = await product(catalog, category_id, price="0.10", stock=1)
    cart_id = await cart_with(catalog, "alice", {mug: 3, cup: 1})
    head_before = catalog.head.value

    result = await run(catalog, c.PlaceOrder(cart_id=cart_id, customer="alice"))

    assert result.created is True
    assert result.extra == {"total": "60.07", "currency": "USD"}
    assert (stock_of(catalog, mug), stock_of(catalog, cup)) == (2, 0)
    assert query(catalog, "SELECT count(*) FROM cart_lines") == [(0,)]
    assert query(catalog, "SELECT customer, status, total, currency, version FROM orders") == [
        ("alice", "placed", "60.07", "USD", 1)
    ]
    new = await events_after(catalog, head_before)
    assert sorted((e.type, e.aggregate_id) for e in new) == sorted(
        [
            ("StockAdjusted", mug),
            ("StockAdjusted", cup),
            ("CartCheckedOut", cart_id),
            ("OrderPlaced", result.id),
        ]
    )
    assert len({e.correlation_id for e in new}) == 1
    assert result.version == new[-1].position == catalog.head.value
    placed = next(e for e in new if e.type == "OrderPlaced")
    assert placed.data["total"] == "60.07"
    assert {line["product_id"]: line["unit_price"] for line in placed.data["lines"]} == {
        mug: "19.99",
        cup: "0.10",
    }

    # Prices are captured at checkout: a later price change leaves the order alone.
    await run(catalog, c.ChangePrice(product_id=mug, price=Decimal("25.00")))
    assert query(catalog, "SELECT total FROM orders") == [("60.07",)]


async def test_place_order_errors(catalog: EmbeddedRuntime, world: World) -> None:
    with pytest.raises(NotFound):
        await run(catalog, c.PlaceOrder(cart_id=new_id(), customer="alice"))
    with pytest.raises(EmptyCart):
        await run(catalog, c.PlaceOrder(cart_id=world.empty_cart, customer="alice"))
    with pytest.raises(DuplicateId):
        await run(catalog, c.PlaceOrder(cart_id=world.cart, customer="alice", order_id=world.order))


async def test_an_order_with_mixed_currencies_is_refused(catalog: EmbeddedRuntime) -> None:
    category_id = await category(catalog)
    usd = await product(catalog, category_id, currency="USD")
    eur = await product(catalog, category_id, currency="EUR")
    cart_id = await cart_with(catalog, "alice", {usd: 1, eur: 1})
    with pytest.raises(MixedCurrencies):
        await run(catalog, c.PlaceOrder(cart_id=cart_id, customer="alice"))
    assert (stock_of(catalog, usd), stock_of(catalog, eur)) == (10, 10)


async def test_one_line_out_of_stock_leaves_every_stock_unchanged(catalog: EmbeddedRuntime) -> None:
    category_id = await category(catalog)
    # Several products so that lines on both sides of the short one are reserved first.
    products = [await product(catalog, category_id, stock=5) for _ in range(4)]
    cart_id = await cart_with(catalog, "alice", {p: 2 for p in products})
    short = sorted(products)[2]
    await run(catalog, c.AdjustStock(product_id=short, delta=-4, reason="damaged"))
    stocks = {p: stock_of(catalog, p) for p in products}
    before = dump(catalog.settings.write_database)

    with pytest.raises(InsufficientStock):
        await run(catalog, c.PlaceOrder(cart_id=cart_id, customer="alice"))

    assert {p: stock_of(catalog, p) for p in products} == stocks
    assert dump(catalog.settings.write_database) == before
    assert query(catalog, "SELECT count(*) FROM orders") == [(0,)]


async def test_a_discontinued_product_in_the_cart_cannot_be_ordered(
    catalog: EmbeddedRuntime,
) -> None:
    category_id = await category(catalog)
    first = await product(catalog, category_id)
    second = await product(catalog, category_id)
    cart_id = await cart_with(catalog, "alice", {first: 1, second: 1})
    await run(catalog, c.DiscontinueProduct(product_id=second))
    with pytest.raises(ProductDiscontinued):
        await run(catalog, c.PlaceOrder(cart_id=cart_id, customer="alice"))
    assert (stock_of(catalog, first), stock_of(catalog, second)) == (10, 10)


async def test_cancel_order_restocks_once(catalog: EmbeddedRuntime, world: World) -> None:
    assert stock_of(catalog, world.product) == 4
    result = await run(catalog, c.CancelOrder(order_id=world.order, customer="bob"))
    assert result.extra["aggregate_version"] == 2
    assert stock_of(catalog, world.product) == 5
    assert query(catalog, "SELECT status, version FROM orders WHERE id = ?", world.order) == [
        ("cancelled", 2)
    ]
    new = (await all_events(catalog))[-2:]
    assert [(e.type, e.aggregate_id) for e in new] == [
        ("StockAdjusted", world.product),
        ("OrderCancelled", world.order),
    ]
    assert new[0].data["delta"] == 1

    with pytest.raises(OrderNotCancellable):
        await run(catalog, c.CancelOrder(order_id=world.order, customer="bob"))
    assert stock_of(catalog, world.product) == 5


async def test_cancel_order_errors(catalog: EmbeddedRuntime, world: World) -> None:
    with pytest.raises(NotFound):
        await run(catalog, c.CancelOrder(order_id=new_id(), customer="bob"))
    with pytest.raises(NotOwner):
        await run(catalog, c.CancelOrder(order_id=world.order, customer="alice"))
    with pytest.raises(ConcurrencyConflict):
        await run(catalog, c.CancelOrder(order_id=world.order, customer="bob", expected_version=2))
    await run(catalog, c.CancelOrder(order_id=world.order, customer="root", admin=True))
    assert query(catalog, "SELECT status FROM orders WHERE id = ?", world.order) == [("cancelled",)]


# --- failures change nothing -------------------------------------------------------------

FAILING: dict[str, tuple[type[Exception], Callable[[World], Command]]] = {
    "unknown parent": (NotFound, lambda w: c.CreateCategory(name="X", parent_id=new_id())),
    "reused category id": (DuplicateId, lambda w: c.CreateCategory(name="X", id=w.category)),
    "empty category name": (InvalidInput, lambda w: c.CreateCategory(name=" ")),
    "rename unknown category": (
        NotFound,
        lambda w: c.RenameCategory(category_id=new_id(), name="X"),
    ),
    "duplicate sku": (
        DuplicateSku,
        lambda w: c.CreateProduct(
            sku=" MUG-1 ", name="X", category_id=w.category, price=Decimal("1")
        ),
    ),
    "reused product id": (
        DuplicateId,
        lambda w: c.CreateProduct(
            sku="NEW", name="X", category_id=w.category, price=Decimal("1"), id=w.product
        ),
    ),
    "negative price": (
        InvalidInput,
        lambda w: c.ChangePrice(product_id=w.product, price=Decimal("-1")),
    ),
    "stale version": (
        ConcurrencyConflict,
        lambda w: c.ChangePrice(product_id=w.product, price=Decimal("1"), expected_version=1),
    ),
    "stock below zero": (
        InsufficientStock,
        lambda w: c.AdjustStock(product_id=w.product, delta=-5, reason="x"),
    ),
    "discontinued": (
        ProductDiscontinued,
        lambda w: c.ChangePrice(product_id=w.discontinued, price=Decimal("1")),
    ),
    "unknown product": (NotFound, lambda w: c.DiscontinueProduct(product_id=new_id())),
    "cart over stock": (
        InsufficientStock,
        lambda w: c.AddToCart(
            cart_id=w.cart, product_id=w.other_product, quantity=3, customer="alice"
        ),
    ),
    "new cart unknown product": (
        NotFound,
        lambda w: c.AddToCart(cart_id=new_id(), product_id=new_id(), quantity=1, customer="a"),
    ),
    "not owner": (
        NotOwner,
        lambda w: c.AddToCart(cart_id=w.cart, product_id=w.product, quantity=1, customer="eve"),
    ),
    "not in cart": (
        NotInCart,
        lambda w: c.RemoveFromCart(cart_id=w.cart, product_id=w.discontinued, customer="alice"),
    ),
    "empty cart": (EmptyCart, lambda w: c.PlaceOrder(cart_id=w.empty_cart, customer="alice")),
    "reused order id": (
        DuplicateId,
        lambda w: c.PlaceOrder(cart_id=w.cart, customer="alice", order_id=w.order),
    ),
    "cancel unknown order": (
        NotFound,
        lambda w: c.CancelOrder(order_id=new_id(), customer="bob"),
    ),
    "cancel not owner": (NotOwner, lambda w: c.CancelOrder(order_id=w.order, customer="alice")),
}


@pytest.mark.parametrize(("error", "make"), FAILING.values(), ids=FAILING.keys())
async def test_a_failed_command_writes_nothing(
    catalog: EmbeddedRuntime,
    world: World,
    error: type[Exception],
    make: Callable[[World], Command],
) -> None:
    before = dump(catalog.settings.write_database)
    head = catalog.head.value
    assert await catalog.log_reader.head() == head

    with pytest.raises(error):
        await run(catalog, make(world), idempotency_key="failing-key")

    assert catalog.head.value == head
    assert await catalog.log_reader.head() == head
    assert dump(catalog.settings.write_database) == before


async def test_a_failed_second_cancel_writes_nothing(
    catalog: EmbeddedRuntime, world: World
) -> None:
    await run(catalog, c.CancelOrder(order_id=world.order, customer="bob"))
    before = dump(catalog.settings.write_database)
    with pytest.raises(OrderNotCancellable):
        await run(catalog, c.CancelOrder(order_id=world.order, customer="bob"))
    assert dump(catalog.settings.write_database) == before


# --- versions and the event rows ---------------------------------------------------------


async def test_versions_strictly_increase_and_equal_the_last_event_position(
    catalog: EmbeddedRuntime,
) -> None:
    category_id = await category(catalog)
    id = await product(catalog, category_id, stock=5)
    cart_id = new_id()
    commands: list[Command] = [
        c.CreateCategory(name="Other"),
        c.RenameCategory(category_id=category_id, name="Renamed"),
        c.ChangePrice(product_id=id, price=Decimal("3")),
        c.AdjustStock(product_id=id, delta=2, reason="delivery"),
        c.UpdateProductDetails(product_id=id, description="Nice"),
        c.AddToCart(cart_id=cart_id, product_id=id, quantity=2, customer="alice"),
        c.PlaceOrder(cart_id=cart_id, customer="alice"),
    ]
    results = []
    for command in commands:
        head = catalog.head.value
        result = await run(catalog, command)
        new = await events_after(catalog, head)
        assert new, command
        assert result.version == new[-1].position == catalog.head.value
        results.append(result)
    cancelled = await run(catalog, c.CancelOrder(order_id=results[-1].id, customer="alice"))
    versions = [r.version for r in [*results, cancelled]]
    assert versions == sorted(set(versions))


async def test_event_rows_carry_their_envelope(catalog: EmbeddedRuntime) -> None:
    category_id = await category(catalog)
    start = time.time()
    result = await run(
        catalog,
        c.CreateProduct(
            sku="MUG-1", name="Mug", category_id=category_id, price=Decimal("1"), initial_stock=3
        ),
        correlation_id="corr-123",
    )
    cart_id = await cart_with(catalog, "alice", {result.id: 1})
    events = await all_events(catalog)

    positions = [e.position for e in events]
    assert positions == sorted(set(positions))
    assert all(0 < p < 2**53 for p in positions)
    created = events[1]
    assert created.type == "ProductCreated"
    assert created.schema_version == 1
    assert created.aggregate_type == "product"
    assert (created.aggregate_id, created.aggregate_version) == (result.id, 1)
    assert created.position == result.version
    assert start - 1 <= created.recorded_at <= time.time() + 1
    assert created.correlation_id == "corr-123"
    assert created.causation_id and created.causation_id != "corr-123"

    cart_events = [e for e in events if e.aggregate_id == cart_id]
    assert [(e.aggregate_type, e.aggregate_version) for e in cart_events] == [
        ("cart", 1),
        ("cart", 2),
    ]
    # Events of one command share their ids; another command gets new ones.
    assert len({(e.correlation_id, e.causation_id) for e in cart_events}) == 1
    assert cart_events[0].correlation_id == cart_events[0].causation_id
    assert cart_events[0].correlation_id not in {events[0].correlation_id, "corr-123"}


async def test_aggregate_versions_increase_by_one_per_event(catalog: EmbeddedRuntime) -> None:
    id = await product(catalog, await category(catalog), stock=5)
    await run(catalog, c.ChangePrice(product_id=id, price=Decimal("2")))
    await run(catalog, c.AdjustStock(product_id=id, delta=-1, reason="sale"))
    await run(catalog, c.DiscontinueProduct(product_id=id))
    versions = [e.aggregate_version for e in await all_events(catalog) if e.aggregate_id == id]
    assert versions == [1, 2, 3, 4]
    assert query(catalog, "SELECT version FROM products") == [(4,)]


# --- idempotency -------------------------------------------------------------------------


async def test_a_repeated_key_replays_the_first_result(
    catalog: EmbeddedRuntime, world: World
) -> None:
    command = c.AdjustStock(product_id=world.product, delta=3, reason="delivery")
    head = catalog.head.value
    first = await run(catalog, command, subject="alice", idempotency_key="k-1")
    after_first = dump(catalog.settings.write_database)
    second = await run(catalog, command, subject="alice", idempotency_key="k-1")

    assert second == first
    assert dump(catalog.settings.write_database) == after_first
    assert [e.type for e in await events_after(catalog, head)] == ["StockAdjusted"]
    assert stock_of(catalog, world.product) == 4 + 3


async def test_a_replayed_create_returns_the_same_id(catalog: EmbeddedRuntime) -> None:
    first = await run(catalog, c.CreateCategory(name="Books"), idempotency_key="k")
    second = await run(catalog, c.CreateCategory(name="Books"), idempotency_key="k")
    assert second == first
    assert query(catalog, "SELECT id FROM categories") == [(first.id,)]


async def test_a_key_reused_for_another_command_is_refused(
    catalog: EmbeddedRuntime, world: World
) -> None:
    await run(
        catalog,
        c.AdjustStock(product_id=world.product, delta=1, reason="x"),
        idempotency_key="k",
    )
    before = dump(catalog.settings.write_database)
    with pytest.raises(IdempotencyKeyReuse):
        await run(
            catalog,
            c.AdjustStock(product_id=world.product, delta=2, reason="x"),
            idempotency_key="k",
        )
    with pytest.raises(IdempotencyKeyReuse):
        await run(
            catalog,
            c.ChangePrice(product_id=world.product, price=Decimal("1")),
            idempotency_key="k",
        )
    assert dump(catalog.settings.write_database) == before


async def test_the_same_key_under_different_subjects_is_independent(
    catalog: EmbeddedRuntime, world: World
) -> None:
    a = await run(
        catalog,
        c.AdjustStock(product_id=world.product, delta=1, reason="x"),
        subject="alice",
        idempotency_key="k",
    )
    b = await run(
        catalog,
        c.AdjustStock(product_id=world.product, delta=1, reason="x"),
        subject="bob",
        idempotency_key="k",
    )
    c_result = await run(
        catalog,
        c.ChangePrice(product_id=world.product, price=Decimal("5")),
        subject="carol",
        idempotency_key="k",
    )
    assert a != b
    assert a.version < b.version < c_result.version
    assert stock_of(catalog, world.product) == 4 + 2


async def test_a_failed_command_does_not_use_up_its_key(
    catalog: EmbeddedRuntime, world: World
) -> None:
    command = c.AdjustStock(product_id=world.product, delta=-10, reason="x")
    with pytest.raises(InsufficientStock):
        await run(catalog, command, idempotency_key="k")
    await run(catalog, c.AdjustStock(product_id=world.product, delta=10, reason="x"))
    result = await run(catalog, command, idempotency_key="k")
    assert stock_of(catalog, world.product) == 4
    assert await run(catalog, command, idempotency_key="k") == result


CONCURRENT: dict[str, Callable[[World], Command]] = {
    "AdjustStock": lambda w: c.AdjustStock(product_id=w.product, delta=1, reason="delivery"),
    "CreateCategory": lambda w: c.CreateCategory(name="Concurrent"),
}


@pytest.mark.parametrize("make", CONCURRENT.values(), ids=CONCURRENT.keys())
async def test_concurrent_retries_with_one_key_take_effect_once(
    catalog: EmbeddedRuntime, world: World, make: Callable[[World], Command]
) -> None:
    command = make(world)
    head = catalog.head.value

    results = await asyncio.gather(
        *(run(catalog, command, subject="alice", idempotency_key="same") for _ in range(20))
    )

    assert all(r == results[0] for r in results)
    new = await events_after(catalog, head)
    assert len(new) == 1
    assert results[0].version == new[0].position


async def test_concurrent_retries_of_a_create_with_a_client_id_all_get_the_result(
    catalog: EmbeddedRuntime,
) -> None:
    command = c.CreateCategory(name="Books", id=new_id())
    results = await asyncio.gather(
        *(run(catalog, command, idempotency_key="same") for _ in range(20)),
        return_exceptions=True,
    )
    assert [type(r).__name__ for r in results] == ["CommandResult"] * 20
    assert all(r == results[0] for r in results)


async def test_concurrent_retries_of_the_last_units_all_get_the_result(
    catalog: EmbeddedRuntime, world: World
) -> None:
    command = c.AdjustStock(product_id=world.other_product, delta=-3, reason="sold")
    results = await asyncio.gather(
        *(run(catalog, command, idempotency_key="same") for _ in range(20)),
        return_exceptions=True,
    )
    assert stock_of(catalog, world.other_product) == 0
    assert [type(r).__name__ for r in results] == ["CommandResult"] * 20


# --- business invariants under concurrency -------------------------------------------------


async def test_concurrent_checkouts_never_oversell(catalog: EmbeddedRuntime) -> None:
    id = await product(catalog, await category(catalog), stock=5)
    carts = {f"customer-{i}": await cart_with(catalog, f"customer-{i}", {id: 1}) for i in range(10)}

    results = await asyncio.gather(
        *(
            run(catalog, c.PlaceOrder(cart_id=cart_id, customer=customer))
            for customer, cart_id in carts.items()
        ),
        return_exceptions=True,
    )

    placed = [r for r in results if isinstance(r, CommandResult)]
    refused = [r for r in results if isinstance(r, InsufficientStock)]
    assert (len(placed), len(refused)) == (5, 5)
    assert stock_of(catalog, id) == 0
    assert query(catalog, "SELECT count(*) FROM orders") == [(5,)]
    stocks = [
        e.data["stock"]
        for e in await all_events(catalog)
        if e.type == "StockAdjusted" and e.aggregate_id == id
    ]
    assert stocks == [4, 3, 2, 1, 0]


async def test_concurrent_creates_keep_skus_unique(catalog: EmbeddedRuntime) -> None:
    category_id = await category(catalog)
    results = await asyncio.gather(
        *(product(catalog, category_id, sku="SAME") for _ in range(10)), return_exceptions=True
    )
    assert sum(isinstance(r, str) for r in results) == 1
    assert sum(isinstance(r, DuplicateSku) for r in results) == 9
    assert query(catalog, "SELECT count(*) FROM products") == [(1,)]


# --- cancellation ----------------------------------------------------------------------------


async def cancel_during(
    cat: EmbeddedRuntime,
    monkeypatch: pytest.MonkeyPatch,
    command: Command,
    reached: Callable[[list[str]], bool],
) -> BaseException | None:
    """Dispatch `command` and cancel it once the writer thread has run the call `reached`
    waits for (observed, not altered), before the command's coroutine resumes."""
    calls: list[str] = []
    original = cat.write_db.run

    async def observed(fn: Callable[[sqlite3.Connection], Any]) -> Any:
        calls.append(getattr(fn, "__name__", "?"))
        return await original(fn)

    monkeypatch.setattr(cat.write_db, "run", observed)
    task = asyncio.create_task(run(cat, command))
    deadline = time.monotonic() + 5
    while not reached(calls):
        assert time.monotonic() < deadline, calls
        await asyncio.sleep(0)
    # Block the loop on purpose: the writer thread finishes the call meanwhile.
    time.sleep(0.2)  # noqa: ASYNC251
    task.cancel()
    try:
        await task
    except BaseException as exc:
        return exc
    finally:
        monkeypatch.setattr(cat.write_db, "run", original)
    return None


async def test_a_command_cancelled_while_another_process_holds_the_lock_blocks_nothing(
    catalog: EmbeddedRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = sqlite3.connect(catalog.settings.write_database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process is writing
    try:
        outcome = await cancel_during(
            catalog,
            monkeypatch,
            c.CreateCategory(name="Cancelled"),
            lambda calls: "_begin_waiting" in calls,
        )
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert isinstance(outcome, asyncio.CancelledError)
    result = await run(catalog, c.CreateCategory(name="After"))
    assert query(catalog, "SELECT name FROM categories") == [("After",)]
    assert result.version == catalog.head.value == await catalog.log_reader.head()
