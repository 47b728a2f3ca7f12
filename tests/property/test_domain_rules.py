"""Hypothesis drives the domain rules: money, stock, carts.

Whatever sequence of operations is tried, an accepted operation records exactly one
event that states the new value, a refused one changes nothing, and the invariants
hold: stock is never negative nor above the maximum, a cart line never exceeds stock
or the quantity limit, money keeps two decimals.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.domain import values
from catalog.domain.cart import Cart
from catalog.domain.errors import DomainError, InvalidInput
from catalog.domain.events import StockAdjusted
from catalog.domain.product import Product

CENTS = st.integers(min_value=0, max_value=int(values.MAX_PRICE * 100) - 1)


def _product(stock: int) -> Product:
    product = Product.create(
        "p-1",
        sku="PROP-1",
        name="Property",
        description="",
        category_id="c-1",
        price=Decimal("1.00"),
        currency="USD",
        attributes={},
        initial_stock=stock,
    )
    product.collect()
    return product


@given(CENTS)
def test_every_amount_with_two_decimals_is_kept_exactly(cents: int) -> None:
    amount = Decimal(cents) / 100
    assert values.money(str(amount)) == amount
    assert values.money(amount).as_tuple().exponent == -2


@given(st.decimals(allow_nan=True, allow_infinity=True, places=None))
def test_money_accepts_only_what_it_can_keep(raw: Decimal) -> None:
    try:
        kept = values.money(raw)
    except InvalidInput:
        assert (
            not raw.is_finite()
            or raw < 0
            or raw >= values.MAX_PRICE
            or raw != raw.quantize(Decimal("0.01"))
        )
    else:
        assert kept == raw and 0 <= kept < values.MAX_PRICE


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("adjust"), st.integers(-(10**9) - 5, 10**9 + 5)),
        st.tuples(st.just("reserve"), st.integers(1, 50)),
    ),
    max_size=40,
)


@settings(max_examples=100)
@given(st.integers(0, 100), OPERATIONS)
def test_stock_never_goes_negative_and_every_change_is_one_event(
    initial: int, operations: list[tuple[str, int]]
) -> None:
    product = _product(initial)
    expected = initial
    for kind, amount in operations:
        before = product.stock
        try:
            if kind == "adjust":
                product.adjust_stock(amount, "count")
            else:
                product.reserve(amount, "o-1")
        except DomainError:
            assert product.stock == before
            assert product.collect() == []
            continue
        expected += amount if kind == "adjust" else -amount
        events = [pending.event for pending in product.collect()]
        assert len(events) == 1 and isinstance(events[0], StockAdjusted)
        assert events[0].stock == product.stock == expected
        assert 0 <= product.stock <= values.MAX_STOCK


@settings(max_examples=100)
@given(
    st.integers(0, 30),
    st.lists(
        st.tuples(st.sampled_from(["add", "remove"]), st.integers(-2, values.MAX_QUANTITY + 2)),
        max_size=30,
    ),
)
def test_a_cart_line_never_exceeds_stock_or_the_quantity_limit(
    stock: int, operations: list[tuple[str, int]]
) -> None:
    product = _product(stock)
    cart = Cart.open("cart-1", "alice")
    cart.collect()
    for kind, quantity in operations:
        before = dict(cart.lines)
        try:
            if kind == "add":
                cart.add(product, quantity)
            else:
                cart.remove(product.id)
        except DomainError:
            assert cart.lines == before
            assert cart.collect() == []
            continue
        assert len(cart.collect()) == 1
        line = cart.lines.get(product.id, 0)
        assert 0 <= line <= min(stock, values.MAX_QUANTITY)
        if kind == "add":
            assert line == before.get(product.id, 0) + quantity
        else:
            assert product.id not in cart.lines
