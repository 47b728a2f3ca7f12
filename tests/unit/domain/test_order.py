"""Orders: checkout reserves every line at its current price or fails whole; cancel restocks."""

from __future__ import annotations

from decimal import Decimal

import pytest

from catalog.domain.cart import Cart
from catalog.domain.errors import (
    EmptyCart,
    InsufficientStock,
    InvalidInput,
    MixedCurrencies,
    NotOwner,
    OrderNotCancellable,
    ProductDiscontinued,
)
from catalog.domain.events import (
    CartCheckedOut,
    OrderCancelled,
    OrderLine,
    OrderPlaced,
    StockAdjusted,
)
from catalog.domain.order import CANCELLED, PLACED, Order
from catalog.domain.product import ACTIVE, DISCONTINUED, Product


def product(
    id: str,
    *,
    price: str = "1.00",
    stock: int = 10,
    currency: str = "USD",
    status: str = ACTIVE,
) -> Product:
    return Product(
        id,
        sku=f"SKU-{id}",
        name=f"Product {id}",
        description="",
        category_id=f"cat-{id}",
        price=Decimal(price),
        currency=currency,
        attributes={},
        stock=stock,
        status=status,
        version=2,
    )


def cart(lines: dict[str, int], owner: str = "alice") -> Cart:
    return Cart("c1", owner, dict(lines), version=len(lines) + 1)


def catalog_of(*products: Product) -> dict[str, Product]:
    return {p.id: p for p in products}


def test_place_captures_lines_prices_and_decimal_total() -> None:
    products = catalog_of(product("a", price="19.99", stock=5), product("b", price="0.10"))
    the_cart = cart({"b": 1, "a": 3})

    order = Order.place("o1", the_cart, products)

    assert order.lines == (
        OrderLine(
            product_id="a",
            sku="SKU-a",
            name="Product a",
            category_id="cat-a",
            quantity=3,
            unit_price=Decimal("19.99"),
            line_total=Decimal("59.97"),
        ),
        OrderLine(
            product_id="b",
            sku="SKU-b",
            name="Product b",
            category_id="cat-b",
            quantity=1,
            unit_price=Decimal("0.10"),
            line_total=Decimal("0.10"),
        ),
    )
    assert isinstance(order.total, Decimal)
    assert str(order.total) == "60.07"
    assert (order.customer, order.cart_id, order.currency, order.status) == (
        "alice",
        "c1",
        "USD",
        PLACED,
    )
    assert order.version == 1
    [pending] = order.collect()
    assert pending.aggregate_version == 1
    event = pending.event
    assert isinstance(event, OrderPlaced)
    assert event.aggregate_type == "order"
    assert (event.aggregate_id, event.cart_id, event.customer) == ("o1", "c1", "alice")
    assert (event.lines, event.total, event.currency) == (order.lines, Decimal("60.07"), "USD")
    assert event.placed_at == order.placed_at > 0


def test_place_reserves_stock_for_every_line() -> None:
    products = catalog_of(product("a", stock=5), product("b", stock=1))
    Order.place("o1", cart({"a": 3, "b": 1}), products)

    assert products["a"].stock == 2
    assert products["b"].stock == 0
    [a_event] = products["a"].collect()
    assert a_event.aggregate_version == 3
    assert a_event.event == StockAdjusted(aggregate_id="a", delta=-3, reason="order o1", stock=2)
    [b_event] = products["b"].collect()
    assert b_event.event == StockAdjusted(aggregate_id="b", delta=-1, reason="order o1", stock=0)


def test_place_checks_out_the_cart() -> None:
    the_cart = cart({"a": 1})
    Order.place("o1", the_cart, catalog_of(product("a")))
    assert the_cart.lines == {}
    [pending] = the_cart.collect()
    assert pending.event == CartCheckedOut(aggregate_id="c1", order_id="o1")
    assert pending.aggregate_version == 3


def test_prices_are_captured_at_checkout() -> None:
    products = catalog_of(product("a", price="5.00"))
    order = Order.place("o1", cart({"a": 2}), products)
    products["a"].change_price("7.00")
    assert order.lines[0].unit_price == Decimal("5.00")
    assert order.total == Decimal("10.00")


def test_a_line_out_of_stock_fails_the_order_before_anything_is_recorded_on_it() -> None:
    # "a" sorts first and is reserved before "b" turns out to be short; the caller's
    # transaction discards that reservation.
    products = catalog_of(product("a", stock=5), product("b", stock=1))
    the_cart = cart({"a": 2, "b": 3})

    with pytest.raises(InsufficientStock):
        Order.place("o1", the_cart, products)

    assert the_cart.lines == {"a": 2, "b": 3}
    assert the_cart.collect() == []
    assert products["b"].stock == 1
    assert products["b"].collect() == []


def test_a_discontinued_line_fails_the_order() -> None:
    products = catalog_of(product("a"), product("b", status=DISCONTINUED))
    the_cart = cart({"a": 1, "b": 1})
    with pytest.raises(ProductDiscontinued):
        Order.place("o1", the_cart, products)
    assert the_cart.lines == {"a": 1, "b": 1}
    assert the_cart.collect() == []
    assert products["b"].collect() == []


def test_mixed_currencies_fail_before_any_stock_is_taken() -> None:
    products = catalog_of(product("a", currency="USD"), product("b", currency="EUR"))
    the_cart = cart({"a": 1, "b": 1})
    with pytest.raises(MixedCurrencies):
        Order.place("o1", the_cart, products)
    assert [p.stock for p in products.values()] == [10, 10]
    assert all(p.collect() == [] for p in products.values())
    assert the_cart.lines == {"a": 1, "b": 1}
    assert the_cart.collect() == []


def test_an_empty_cart_cannot_be_checked_out() -> None:
    the_cart = cart({})
    with pytest.raises(EmptyCart):
        Order.place("o1", the_cart, {})
    assert the_cart.collect() == []


def test_the_order_carries_the_currency_of_its_products() -> None:
    order = Order.place("o1", cart({"a": 1}), catalog_of(product("a", currency="EUR")))
    assert order.currency == "EUR"


def placed(products: dict[str, Product], lines: dict[str, int]) -> Order:
    order = Order.place("o1", cart(lines), products)
    order.collect()
    for p in products.values():
        p.collect()
    return order


def test_cancel_restocks_every_line_and_records_the_cancellation() -> None:
    products = catalog_of(product("a", stock=5), product("b", stock=4))
    order = placed(products, {"a": 2, "b": 4})

    order.cancel(products)

    assert order.status == CANCELLED
    assert products["a"].stock == 5
    assert products["b"].stock == 4
    [a_event] = products["a"].collect()
    assert a_event.event == StockAdjusted(
        aggregate_id="a", delta=2, reason="order o1 cancelled", stock=5
    )
    [b_event] = products["b"].collect()
    assert b_event.event == StockAdjusted(
        aggregate_id="b", delta=4, reason="order o1 cancelled", stock=4
    )
    [pending] = order.collect()
    assert pending.aggregate_version == 2
    assert pending.event == OrderCancelled(
        aggregate_id="o1",
        customer="alice",
        lines=order.lines,
        total=order.total,
        placed_at=order.placed_at,
    )


def test_cancel_restocks_a_product_discontinued_since() -> None:
    products = catalog_of(product("a", stock=5))
    order = placed(products, {"a": 2})
    products["a"].discontinue()
    order.cancel(products)
    assert products["a"].stock == 5


def test_an_order_cannot_be_cancelled_twice() -> None:
    products = catalog_of(product("a", stock=5))
    order = placed(products, {"a": 2})
    order.cancel(products)
    order.collect()
    products["a"].collect()

    with pytest.raises(OrderNotCancellable):
        order.cancel(products)
    assert products["a"].stock == 5
    assert products["a"].collect() == []
    assert order.collect() == []
    assert order.version == 2


def test_cancel_needs_every_product_of_the_order() -> None:
    products = catalog_of(product("a"), product("b"))
    order = placed(products, {"a": 1, "b": 1})
    with pytest.raises(InvalidInput):
        order.cancel({"a": products["a"]})
    assert order.status == PLACED
    assert order.collect() == []


def test_only_the_customer_or_an_admin_may_use_an_order() -> None:
    order = placed(catalog_of(product("a")), {"a": 1})
    order.check_owner("alice", admin=False)
    order.check_owner("mallory", admin=True)
    with pytest.raises(NotOwner):
        order.check_owner("mallory", admin=False)
