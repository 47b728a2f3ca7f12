"""Products and inventory: creation rules, details, price, stock and discontinuation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from catalog.domain import values
from catalog.domain.errors import InsufficientStock, InvalidInput, ProductDiscontinued
from catalog.domain.events import (
    PriceChanged,
    ProductCreated,
    ProductDetailsUpdated,
    StockAdjusted,
)
from catalog.domain.events import ProductDiscontinued as ProductDiscontinuedEvent
from catalog.domain.product import (
    ACTIVE,
    DISCONTINUED,
    MAX_DESCRIPTION,
    MAX_NAME,
    MAX_REASON,
    MAX_SKU,
    Product,
)


def create(**overrides: Any) -> Product:
    fields: dict[str, Any] = {
        "sku": "MUG-1",
        "name": "Blue Mug",
        "description": "A mug.",
        "category_id": "cat-1",
        "price": Decimal("9.99"),
        "currency": "USD",
        "attributes": {"color": "blue"},
        "initial_stock": 10,
    }
    fields.update(overrides)
    return Product.create("p1", **fields)


def stored(*, stock: int = 10, status: str = ACTIVE, version: int = 4) -> Product:
    """A product as the repository loads it: no pending events."""
    return Product(
        "p1",
        sku="MUG-1",
        name="Blue Mug",
        description="A mug.",
        category_id="cat-1",
        price=Decimal("9.99"),
        currency="USD",
        attributes={"color": "blue"},
        stock=stock,
        status=status,
        version=version,
    )


def snapshot(product: Product) -> dict[str, Any]:
    return {
        name: getattr(product, name)
        for name in (
            "sku",
            "name",
            "description",
            "category_id",
            "price",
            "currency",
            "attributes",
            "stock",
            "status",
            "version",
        )
    }


# --- creation -------------------------------------------------------------------------


def test_create_records_product_created_with_cleaned_values() -> None:
    product = create(
        sku="  MUG-1 ",
        name=" Blue Mug ",
        description="  A mug. ",
        price="9.9",
        attributes={" color ": " blue "},
    )

    assert product.version == 1
    assert product.status == ACTIVE and product.active
    [pending] = product.collect()
    assert pending.aggregate_version == 1
    assert pending.event == ProductCreated(
        aggregate_id="p1",
        sku="MUG-1",
        name="Blue Mug",
        description="A mug.",
        category_id="cat-1",
        price=Decimal("9.90"),
        currency="USD",
        attributes={"color": "blue"},
        stock=10,
    )
    assert pending.event.aggregate_type == "product"
    assert str(product.price) == "9.90"


def test_create_allows_an_empty_description_and_no_attributes() -> None:
    product = create(description="", attributes={}, initial_stock=0)
    assert (product.description, product.attributes, product.stock) == ("", {}, 0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sku", ""),
        ("sku", "   "),
        ("sku", "S" * (MAX_SKU + 1)),
        ("sku", "SKU\x00"),
        ("name", ""),
        ("name", "N" * (MAX_NAME + 1)),
        ("name", "Mug\x07"),
        ("description", "D" * (MAX_DESCRIPTION + 1)),
        ("description", "bad\x1bescape"),
        ("price", "-0.01"),
        ("price", "1.999"),
        ("price", "NaN"),
        ("price", "Infinity"),
        ("price", "1000000000"),
        ("price", "ten"),
        ("currency", "usd"),
        ("currency", "US"),
        ("currency", "DOLLARS"),
        ("attributes", {f"k{i}": "v" for i in range(values.MAX_ATTRIBUTES + 1)}),
        ("attributes", {"": "v"}),
        ("attributes", {"k": "v" * 257}),
        ("initial_stock", -1),
        ("initial_stock", values.MAX_STOCK + 1),
    ],
)
def test_create_rejects_invalid_values(field: str, value: Any) -> None:
    with pytest.raises(InvalidInput) as err:
        create(**{field: value})
    assert err.value.field == field


def test_create_accepts_values_at_their_limits() -> None:
    product = create(
        sku="S" * MAX_SKU,
        name="N" * MAX_NAME,
        description="D" * MAX_DESCRIPTION,
        price="999999999.99",
        initial_stock=values.MAX_STOCK,
        attributes={f"k{i}": "v" for i in range(values.MAX_ATTRIBUTES)},
    )
    assert product.stock == values.MAX_STOCK
    assert product.price == Decimal("999999999.99")


# --- details ---------------------------------------------------------------------------


def test_update_details_records_the_full_new_details() -> None:
    product = stored()
    product.update_details(
        name=" Red Mug ", description=None, attributes={"color": "red"}, category_id="cat-2"
    )

    assert (product.name, product.description, product.category_id) == (
        "Red Mug",
        "A mug.",
        "cat-2",
    )
    [pending] = product.collect()
    assert pending.aggregate_version == 5
    assert pending.event == ProductDetailsUpdated(
        aggregate_id="p1",
        name="Red Mug",
        description="A mug.",
        attributes={"color": "red"},
        category_id="cat-2",
        previous_category_id="cat-1",
    )


def test_update_details_with_nothing_given_keeps_every_field() -> None:
    product = stored()
    product.update_details(name=None, description=None, attributes=None, category_id=None)
    [pending] = product.collect()
    assert isinstance(pending.event, ProductDetailsUpdated)
    assert pending.event.category_id == pending.event.previous_category_id == "cat-1"
    assert pending.event.name == "Blue Mug"


@pytest.mark.parametrize(
    "change",
    [
        {"name": ""},
        {"name": "N" * (MAX_NAME + 1)},
        {"description": "D" * (MAX_DESCRIPTION + 1)},
        {"attributes": {"k" * 65: "v"}},
    ],
)
def test_update_details_rejects_invalid_values_without_recording(change: dict[str, Any]) -> None:
    product = stored()
    arguments: dict[str, Any] = {
        "name": None,
        "description": None,
        "attributes": None,
        "category_id": None,
    }
    arguments.update(change)
    with pytest.raises(InvalidInput):
        product.update_details(**arguments)
    assert product.collect() == []
    assert product.version == 4


# --- price -----------------------------------------------------------------------------


def test_change_price_records_old_and_new_price() -> None:
    product = stored()
    product.change_price("12.5")
    assert product.price == Decimal("12.50")
    [pending] = product.collect()
    assert pending.aggregate_version == 5
    assert pending.event == PriceChanged(
        aggregate_id="p1", price=Decimal("12.50"), previous_price=Decimal("9.99"), currency="USD"
    )
    assert isinstance(pending.event.price, Decimal)


@pytest.mark.parametrize("price", ["-1", "0.005", "NaN", "-Infinity", "1000000000", "x"])
def test_change_price_rejects_invalid_money_and_keeps_the_price(price: str) -> None:
    product = stored()
    with pytest.raises(InvalidInput):
        product.change_price(price)
    assert snapshot(product) == snapshot(stored())
    assert product.collect() == []


def test_price_may_drop_to_zero() -> None:
    product = stored()
    product.change_price("0")
    assert str(product.price) == "0.00"


# --- stock -----------------------------------------------------------------------------


def test_adjust_stock_records_delta_reason_and_resulting_stock() -> None:
    product = stored(stock=10)
    product.adjust_stock(5, " restock ")
    product.adjust_stock(-3, "damaged")

    assert product.stock == 12
    events = product.collect()
    assert [p.aggregate_version for p in events] == [5, 6]
    assert [p.event for p in events] == [
        StockAdjusted(aggregate_id="p1", delta=5, reason="restock", stock=15),
        StockAdjusted(aggregate_id="p1", delta=-3, reason="damaged", stock=12),
    ]


def test_stock_can_be_taken_down_to_exactly_zero() -> None:
    product = stored(stock=5)
    product.adjust_stock(-5, "sold out")
    assert product.stock == 0
    [pending] = product.collect()
    assert isinstance(pending.event, StockAdjusted)
    assert pending.event.stock == 0


@pytest.mark.parametrize(("stock", "delta"), [(5, -6), (0, -1), (1, -values.MAX_STOCK)])
def test_stock_never_goes_below_zero(stock: int, delta: int) -> None:
    product = stored(stock=stock)
    with pytest.raises(InsufficientStock):
        product.adjust_stock(delta, "count")
    assert product.stock == stock
    assert product.version == 4
    assert product.collect() == []


def test_stock_may_reach_but_not_exceed_the_maximum() -> None:
    product = stored(stock=values.MAX_STOCK - 1)
    product.adjust_stock(1, "delivery")
    assert product.stock == values.MAX_STOCK
    with pytest.raises(InvalidInput) as err:
        product.adjust_stock(1, "delivery")
    assert err.value.field == "delta"
    assert product.stock == values.MAX_STOCK


@pytest.mark.parametrize(
    ("delta", "reason", "field"),
    [
        (0, "count", "delta"),
        (values.MAX_STOCK + 1, "count", "delta"),
        (1, "", "reason"),
        (1, "   ", "reason"),
        (1, "r" * (MAX_REASON + 1), "reason"),
        (1, "bad\x00reason", "reason"),
    ],
)
def test_adjust_stock_rejects_invalid_delta_or_reason(delta: int, reason: str, field: str) -> None:
    product = stored(stock=10)
    with pytest.raises(InvalidInput) as err:
        product.adjust_stock(delta, reason)
    assert err.value.field == field
    assert product.stock == 10
    assert product.collect() == []


def test_reserve_takes_stock_for_an_order() -> None:
    product = stored(stock=3)
    product.reserve(3, "o1")
    assert product.stock == 0
    [pending] = product.collect()
    assert pending.event == StockAdjusted(aggregate_id="p1", delta=-3, reason="order o1", stock=0)


def test_reserve_more_than_stock_raises_insufficient_stock() -> None:
    product = stored(stock=2)
    with pytest.raises(InsufficientStock):
        product.reserve(3, "o1")
    assert product.stock == 2
    assert product.collect() == []


# --- discontinuation -------------------------------------------------------------------


def test_discontinue_records_the_event_and_deactivates() -> None:
    product = stored()
    product.discontinue()
    assert product.status == DISCONTINUED
    assert not product.active
    [pending] = product.collect()
    assert pending.aggregate_version == 5
    assert pending.event == ProductDiscontinuedEvent(aggregate_id="p1")


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p.change_price("1.00"),
        lambda p: p.update_details(name="New", description=None, attributes=None, category_id=None),
        lambda p: p.discontinue(),
        lambda p: p.reserve(1, "o1"),
    ],
    ids=["change_price", "update_details", "discontinue", "reserve"],
)
def test_a_discontinued_product_rejects_changes_and_sales(change: Any) -> None:
    product = stored(status=DISCONTINUED)
    with pytest.raises(ProductDiscontinued):
        change(product)
    assert snapshot(product) == snapshot(stored(status=DISCONTINUED))
    assert product.collect() == []


def test_versions_increase_by_one_per_recorded_event() -> None:
    product = create()
    product.change_price("10.00")
    product.adjust_stock(-1, "sale")
    product.update_details(name="Mug", description=None, attributes=None, category_id=None)
    product.discontinue()
    events = product.collect()
    assert [p.aggregate_version for p in events] == [1, 2, 3, 4, 5]
    assert [type(p.event) for p in events] == [
        ProductCreated,
        PriceChanged,
        StockAdjusted,
        ProductDetailsUpdated,
        ProductDiscontinuedEvent,
    ]
    assert product.version == 5
