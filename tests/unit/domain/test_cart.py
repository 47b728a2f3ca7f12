"""Carts: opening, adding and removing lines, limits and ownership."""

from __future__ import annotations

from decimal import Decimal

import pytest

from catalog.domain import values
from catalog.domain.cart import MAX_LINES, Cart
from catalog.domain.errors import (
    EmptyCart,
    InsufficientStock,
    InvalidInput,
    NotInCart,
    NotOwner,
    ProductDiscontinued,
)
from catalog.domain.events import CartCheckedOut, CartItemAdded, CartItemRemoved, CartOpened
from catalog.domain.product import ACTIVE, DISCONTINUED, Product


def product(id: str = "p1", *, stock: int = 10, status: str = ACTIVE) -> Product:
    return Product(
        id,
        sku=f"SKU-{id}",
        name=f"Product {id}",
        description="",
        category_id="cat-1",
        price=Decimal("2.50"),
        currency="USD",
        attributes={},
        stock=stock,
        status=status,
        version=1,
    )


def test_open_records_cart_opened_for_the_owner() -> None:
    cart = Cart.open("c1", "alice")
    assert (cart.id, cart.owner, cart.lines, cart.version) == ("c1", "alice", {}, 1)
    [pending] = cart.collect()
    assert pending.aggregate_version == 1
    assert pending.event == CartOpened(aggregate_id="c1", owner="alice")
    assert pending.event.aggregate_type == "cart"


def test_add_records_the_added_quantity_and_the_line_total() -> None:
    cart = Cart.open("c1", "alice")
    cart.add(product("p1"), 2)
    cart.add(product("p1"), 3)
    cart.add(product("p2"), 1)

    assert cart.lines == {"p1": 5, "p2": 1}
    events = cart.collect()
    assert [p.aggregate_version for p in events] == [1, 2, 3, 4]
    assert [p.event for p in events[1:]] == [
        CartItemAdded(aggregate_id="c1", product_id="p1", quantity=2, line_quantity=2),
        CartItemAdded(aggregate_id="c1", product_id="p1", quantity=3, line_quantity=5),
        CartItemAdded(aggregate_id="c1", product_id="p2", quantity=1, line_quantity=1),
    ]


@pytest.mark.parametrize("quantity", [0, -1, values.MAX_QUANTITY + 1])
def test_add_rejects_quantities_out_of_range(quantity: int) -> None:
    cart = Cart("c1", "alice", {}, version=1)
    with pytest.raises(InvalidInput) as err:
        cart.add(product(stock=values.MAX_QUANTITY * 2), quantity)
    assert err.value.field == "quantity"
    assert cart.lines == {}
    assert cart.collect() == []


def test_a_line_holds_at_most_the_maximum_quantity() -> None:
    big = product(stock=values.MAX_QUANTITY * 2)
    cart = Cart("c1", "alice", {}, version=1)
    cart.add(big, values.MAX_QUANTITY - 1)
    cart.add(big, 1)
    assert cart.lines == {"p1": values.MAX_QUANTITY}
    cart.collect()
    with pytest.raises(InvalidInput) as err:
        cart.add(big, 1)
    assert err.value.field == "quantity"
    assert cart.lines == {"p1": values.MAX_QUANTITY}
    assert cart.collect() == []


def test_a_cart_holds_at_most_the_maximum_number_of_lines() -> None:
    lines = {f"p{i}": 1 for i in range(MAX_LINES)}
    cart = Cart("c1", "alice", dict(lines), version=1)
    with pytest.raises(InvalidInput) as err:
        cart.add(product("extra"), 1)
    assert err.value.field == "product_id"
    assert cart.lines == lines
    # A full cart still takes more of a product it already holds.
    cart.add(product("p0"), 1)
    assert cart.lines["p0"] == 2


def test_adding_exactly_the_stock_is_allowed() -> None:
    cart = Cart("c1", "alice", {}, version=1)
    cart.add(product(stock=4), 4)
    assert cart.lines == {"p1": 4}


def test_adding_more_than_stock_raises_insufficient_stock() -> None:
    cart = Cart("c1", "alice", {}, version=1)
    with pytest.raises(InsufficientStock):
        cart.add(product(stock=3), 4)
    assert cart.lines == {}
    assert cart.collect() == []


def test_the_whole_line_counts_against_stock() -> None:
    cart = Cart("c1", "alice", {"p1": 2}, version=2)
    with pytest.raises(InsufficientStock):
        cart.add(product(stock=3), 2)
    assert cart.lines == {"p1": 2}
    assert cart.version == 2


def test_a_product_out_of_stock_cannot_be_added() -> None:
    cart = Cart("c1", "alice", {}, version=1)
    with pytest.raises(InsufficientStock):
        cart.add(product(stock=0), 1)


def test_a_discontinued_product_cannot_be_added() -> None:
    cart = Cart("c1", "alice", {}, version=1)
    with pytest.raises(ProductDiscontinued):
        cart.add(product(status=DISCONTINUED), 1)
    assert cart.lines == {}
    assert cart.collect() == []


def test_remove_drops_the_line_and_records_it() -> None:
    cart = Cart("c1", "alice", {"p1": 2, "p2": 1}, version=3)
    cart.remove("p1")
    assert cart.lines == {"p2": 1}
    [pending] = cart.collect()
    assert pending.aggregate_version == 4
    assert pending.event == CartItemRemoved(aggregate_id="c1", product_id="p1")


def test_removing_a_missing_line_raises_not_in_cart() -> None:
    cart = Cart("c1", "alice", {"p1": 2}, version=3)
    with pytest.raises(NotInCart):
        cart.remove("p2")
    assert cart.lines == {"p1": 2}
    assert cart.version == 3
    assert cart.collect() == []


def test_only_the_owner_or_an_admin_may_use_a_cart() -> None:
    cart = Cart("c1", "alice", {}, version=1)
    cart.check_owner("alice", admin=False)
    cart.check_owner("bob", admin=True)
    with pytest.raises(NotOwner):
        cart.check_owner("bob", admin=False)


def test_require_lines_returns_a_copy_of_the_lines() -> None:
    cart = Cart("c1", "alice", {"p1": 2}, version=2)
    lines = cart.require_lines()
    lines["p1"] = 99
    assert cart.lines == {"p1": 2}


def test_an_empty_cart_has_no_lines_to_check_out() -> None:
    with pytest.raises(EmptyCart):
        Cart("c1", "alice", {}, version=1).require_lines()


def test_checked_out_empties_the_cart_and_records_the_order() -> None:
    cart = Cart("c1", "alice", {"p1": 2}, version=2)
    cart.checked_out("o1")
    assert cart.lines == {}
    [pending] = cart.collect()
    assert pending.aggregate_version == 3
    assert pending.event == CartCheckedOut(aggregate_id="c1", order_id="o1")
