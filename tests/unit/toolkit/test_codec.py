"""The event codec: JSON-ready payloads, Decimal kept exact, a registry of type names."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import orjson
import pytest

from catalog.domain import events as ev
from tandem.codec import EventRegistry, from_data, to_data
from tandem.errors import HandlerAlreadyBound, UnknownEventType
from tandem.messages import Event, StoredEvent

LINE_A = ev.OrderLine(
    product_id="p1",
    sku="SKU-1",
    name="Blue Mug",
    category_id="c1",
    quantity=3,
    unit_price=Decimal("19.99"),
    line_total=Decimal("59.97"),
)
LINE_B = ev.OrderLine(
    product_id="p2",
    sku="SKU-2",
    name="Red Mug",
    category_id="c2",
    quantity=1,
    unit_price=Decimal("0.10"),
    line_total=Decimal("0.10"),
)

SAMPLES: list[Event] = [
    ev.CategoryCreated(aggregate_id="c1", name="Books", slug="books", parent_id=None),
    ev.CategoryCreated(aggregate_id="c2", name="Novels", slug="novels", parent_id="c1"),
    ev.CategoryRenamed(aggregate_id="c1", name="Rare Books", slug="rare-books"),
    ev.ProductCreated(
        aggregate_id="p1",
        sku="SKU-1",
        name="Blue Mug",
        description="A mug.\nDishwasher safe.",
        category_id="c1",
        price=Decimal("1234567.89"),
        currency="USD",
        attributes={"color": "blue", "size": ""},
        stock=7,
    ),
    ev.ProductDetailsUpdated(
        aggregate_id="p1",
        name="Mug",
        description="",
        attributes={},
        category_id="c2",
        previous_category_id="c1",
    ),
    ev.PriceChanged(
        aggregate_id="p1", price=Decimal("0.10"), previous_price=Decimal("10.00"), currency="EUR"
    ),
    ev.StockAdjusted(aggregate_id="p1", delta=-3, reason="order o1", stock=4),
    ev.ProductDiscontinued(aggregate_id="p1"),
    ev.CartOpened(aggregate_id="k1", owner="alice"),
    ev.CartItemAdded(aggregate_id="k1", product_id="p1", quantity=2, line_quantity=5),
    ev.CartItemRemoved(aggregate_id="k1", product_id="p1"),
    ev.CartCheckedOut(aggregate_id="k1", order_id="o1"),
    ev.OrderPlaced(
        aggregate_id="o1",
        cart_id="k1",
        customer="alice",
        lines=(LINE_A, LINE_B),
        total=Decimal("60.07"),
        currency="USD",
        placed_at=1_732_000_000.123456,
    ),
    ev.OrderCancelled(
        aggregate_id="o1",
        customer="alice",
        lines=(LINE_A,),
        total=Decimal("59.97"),
        placed_at=1_732_000_000.5,
    ),
]


def registry() -> EventRegistry:
    reg = EventRegistry()
    reg.register(*ev.ALL_EVENTS)
    return reg


def stored(reg: EventRegistry, event: Event, position: int = 1) -> StoredEvent:
    """The event as the log hands it back: its payload after a trip through JSON bytes."""
    return StoredEvent(
        position=position,
        type=reg.type_name(event),
        schema_version=event.schema_version,
        aggregate_type=event.aggregate_type,
        aggregate_id=event.aggregate_id,
        aggregate_version=1,
        recorded_at=0.0,
        correlation_id="corr",
        causation_id="cause",
        data=orjson.loads(orjson.dumps(registry().encode(event))),
    )


def test_the_samples_cover_every_catalog_event_type() -> None:
    assert {type(e) for e in SAMPLES} == set(ev.ALL_EVENTS)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_every_catalog_event_round_trips_through_json(event: Event) -> None:
    reg = registry()
    decoded = reg.decode(stored(reg, event))
    assert decoded == event
    assert type(decoded) is type(event)
    assert reg.decode_as(stored(reg, event), type(event)) == event


def test_decimals_are_encoded_as_exact_strings_and_decoded_as_decimals() -> None:
    reg = registry()
    price_changed = SAMPLES[5]
    data = reg.encode(price_changed)
    assert data["price"] == "0.10"
    assert data["previous_price"] == "10.00"
    decoded = reg.decode(stored(reg, price_changed))
    assert isinstance(decoded, ev.PriceChanged)
    assert isinstance(decoded.price, Decimal)
    assert str(decoded.price) == "0.10"


def test_order_lines_decode_as_a_tuple_of_order_lines() -> None:
    reg = registry()
    placed = SAMPLES[12]
    data = reg.encode(placed)
    assert data["lines"][0]["unit_price"] == "19.99"
    decoded = reg.decode(stored(reg, placed))
    assert isinstance(decoded, ev.OrderPlaced)
    assert isinstance(decoded.lines, tuple)
    assert all(isinstance(line, ev.OrderLine) for line in decoded.lines)
    assert isinstance(decoded.lines[1].line_total, Decimal)
    assert str(decoded.total) == "60.07"


def test_the_aggregate_id_lives_in_the_envelope_not_the_payload() -> None:
    reg = registry()
    data = reg.encode(ev.CartOpened(aggregate_id="k1", owner="alice"))
    assert data == {"owner": "alice"}
    decoded = reg.decode(
        StoredEvent(
            position=9,
            type="CartOpened",
            schema_version=1,
            aggregate_type="cart",
            aggregate_id="k2",
            aggregate_version=1,
            recorded_at=0.0,
            correlation_id="c",
            causation_id="c",
            data=data,
        )
    )
    assert decoded == ev.CartOpened(aggregate_id="k2", owner="alice")


def test_to_data_and_from_data_round_trip_a_plain_dataclass() -> None:
    data = to_data(LINE_A)
    assert data == {
        "product_id": "p1",
        "sku": "SKU-1",
        "name": "Blue Mug",
        "category_id": "c1",
        "quantity": 3,
        "unit_price": "19.99",
        "line_total": "59.97",
    }
    assert from_data(ev.OrderLine, data) == LINE_A


def test_type_name_is_the_class_name() -> None:
    assert registry().type_name(SAMPLES[0]) == "CategoryCreated"


def test_registering_the_same_class_twice_is_harmless() -> None:
    reg = registry()
    reg.register(ev.CartOpened)
    assert reg.type_name(ev.CartOpened(aggregate_id="k", owner="o")) == "CartOpened"


def test_the_registry_refuses_a_second_class_with_the_same_name() -> None:
    @dataclass(frozen=True, kw_only=True)
    class CartOpened(Event):
        aggregate_type = "cart"
        owner: str

    reg = registry()
    with pytest.raises(HandlerAlreadyBound, match="CartOpened"):
        reg.register(CartOpened)
    # The original binding is kept.
    decoded = reg.decode(stored(reg, ev.CartOpened(aggregate_id="k", owner="o")))
    assert type(decoded) is ev.CartOpened


def test_decoding_an_unknown_type_raises() -> None:
    reg = registry()
    event = StoredEvent(
        position=1,
        type="ProductTeleported",
        schema_version=1,
        aggregate_type="product",
        aggregate_id="p1",
        aggregate_version=1,
        recorded_at=0.0,
        correlation_id="c",
        causation_id="c",
        data={},
    )
    with pytest.raises(UnknownEventType, match="ProductTeleported"):
        reg.decode(event)


def test_encoding_an_unregistered_type_raises() -> None:
    @dataclass(frozen=True, kw_only=True)
    class Unregistered(Event):
        pass

    with pytest.raises(UnknownEventType):
        registry().type_name(Unregistered(aggregate_id="x"))
