"""Sales analytics and price history, fed by the real write side's event log: on DuckDB
(each embedded process's own files) and on PostgreSQL (the services profile's read
database, folded once by the workers), with the same answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import pytest
from tests.support.services import create_database, drop_database

from catalog.bootstrap import build_embedded
from catalog.domain import commands as c
from catalog.domain import order as order_module
from catalog.domain.errors import InvalidInput, NotFound
from catalog.read_models.price_history.duckdb import PriceHistoryProjection
from catalog.read_models.price_history.duckdb_reads import PriceHistoryReads
from catalog.read_models.price_history.postgres import PostgresPriceHistoryProjection
from catalog.read_models.price_history.postgres_reads import PostgresPriceHistoryReads
from catalog.read_models.queries import PriceHistory, SalesAnalytics
from catalog.read_models.sales_analytics.duckdb import SalesAnalyticsProjection
from catalog.read_models.sales_analytics.duckdb_reads import SALES_SQL, SalesAnalyticsReads
from catalog.read_models.sales_analytics.postgres import (
    PostgresSalesAnalyticsProjection,
    SalesTables,
)
from catalog.read_models.sales_analytics.postgres_reads import (
    PostgresSalesAnalyticsReads,
    statements,
)
from catalog.read_models.sales_analytics.rules import GROUPINGS
from catalog.runtime.embedded import EmbeddedRuntime
from catalog.settings import Settings
from tandem.bus import QueryBus
from tandem.db.postgres import Pool, create_pool
from tandem.stores.duckdb import DuckDBProjectionStore
from tandem.stores.postgres import PostgresProjectionStore, table_prefix


def epoch(day: int, hour: int = 12, minute: int = 0) -> float:
    return datetime(2024, 3, day, hour, minute, tzinfo=UTC).timestamp()


class World:
    """A running catalog, its orders placed at chosen times, and both analytics read
    models, on DuckDB or on PostgreSQL."""

    def __init__(
        self,
        cat: EmbeddedRuntime,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        read_pool: Pool | None = None,
    ) -> None:
        self.cat = cat
        self.sales_store: Any
        self.price_store: Any
        self.sales_reads: Any
        self.price_reads: Any
        self.sales_projection: Any
        self.price_projection: Any
        if read_pool is None:
            self.sales_store = DuckDBProjectionStore(tmp_path / "read" / "sales_analytics.duckdb")
            self.price_store = DuckDBProjectionStore(tmp_path / "read" / "price_history.duckdb")
            self.sales_projection = SalesAnalyticsProjection()
            self.price_projection = PriceHistoryProjection()
            self.sales_reads = SalesAnalyticsReads(self.sales_store)
            self.price_reads = PriceHistoryReads(self.price_store)
        else:
            self.sales_store = self.price_store = PostgresProjectionStore(read_pool)
            self.sales_projection = PostgresSalesAnalyticsProjection()
            self.price_projection = PostgresPriceHistoryProjection()
            self.sales_reads = PostgresSalesAnalyticsReads(read_pool)
            self.price_reads = PostgresPriceHistoryReads(read_pool)
        self.now = epoch(1)
        # Orders take their `placed_at` from the clock; only that clock is moved.
        monkeypatch.setattr(order_module, "time", SimpleNamespace(time=lambda: self.now))

    async def do(self, command: Any) -> str:
        return (await self.cat.command_bus.dispatch(command)).id

    async def category(self, name: str) -> str:
        return await self.do(c.CreateCategory(name=name))

    async def product(self, category: str, name: str, price: str, stock: int = 100) -> str:
        return await self.do(
            c.CreateProduct(
                sku=uuid4().hex[:12],
                name=name,
                category_id=category,
                price=Decimal(price),
                initial_stock=stock,
            )
        )

    async def order(self, at: float, *lines: tuple[str, int], customer: str = "alice") -> str:
        cart = str(uuid4())
        for product, quantity in lines:
            await self.do(
                c.AddToCart(cart_id=cart, product_id=product, quantity=quantity, customer=customer)
            )
        self.now = at
        return await self.do(c.PlaceOrder(cart_id=cart, customer=customer))

    async def cancel(self, order: str, customer: str = "alice") -> None:
        await self.do(c.CancelOrder(order_id=order, customer=customer))

    async def project(self) -> int:
        """Apply the whole log; batches already applied are skipped by the checkpoint."""
        events = await self.cat.log_reader.read_after(0, 100_000)
        await self.sales_store.setup(self.sales_projection)
        await self.price_store.setup(self.price_projection)
        await self.price_store.apply(self.price_projection, events)
        return await self.sales_store.apply(self.sales_projection, events)

    async def sales(self, group_by: str = "day", **dates: str) -> list[dict[str, Any]]:
        await self.project()
        answer = await self.sales_reads.sales_analytics(SalesAnalytics(group_by=group_by, **dates))
        assert answer["group_by"] == group_by
        rows: list[dict[str, Any]] = answer["rows"]
        return rows

    async def prices(self, product: str) -> dict[str, Any]:
        await self.project()
        return await self.price_reads.price_history(PriceHistory(product_id=product))

    def close(self) -> None:
        if isinstance(self.sales_store, DuckDBProjectionStore):
            self.sales_store.close()
            self.price_store.close()


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.services)])
async def world(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[World]:
    read_pool = database = None
    if request.param == "postgres":
        database = await create_database("tandem_r")
        read_pool = await create_pool(database.url, min_size=1, max_size=2)
    cat = build_embedded(Settings(data_dir=tmp_path / "data"))
    await cat.start()
    w = World(cat, tmp_path, monkeypatch, read_pool)
    try:
        yield w
    finally:
        await cat.stop()
        cat.close()
        w.close()
        if read_pool is not None and database is not None:
            await read_pool.close()
            await drop_database(database)


@pytest.fixture
async def shop(world: World) -> dict[str, str]:
    """Two categories, three products and four orders over three days, one cancelled.

    day 1: o1 = 2 x runner (19.99) + 1 x sock (3.50); o2 = 1 x runner
    day 2: o3 = 4 x sock; o4 = 1 x tent (250.00), cancelled
    day 4: o5 = 1 x tent, at 23:59 UTC
    """
    shoes = await world.category("Shoes")
    outdoor = await world.category("Outdoor")
    runner = await world.product(shoes, "Trail runner", "19.99")
    sock = await world.product(shoes, "Wool sock", "3.50")
    tent = await world.product(outdoor, "Tent", "250.00")
    await world.order(epoch(1, 9), (runner, 2), (sock, 1))
    await world.order(epoch(1, 18), (runner, 1), customer="bob")
    await world.order(epoch(2, 8), (sock, 4))
    cancelled = await world.order(epoch(2, 10), (tent, 1))
    await world.cancel(cancelled)
    await world.order(epoch(4, 23, 59), (tent, 1))
    return {"shoes": shoes, "outdoor": outdoor, "runner": runner, "sock": sock, "tent": tent}


async def test_sales_by_day_count_orders_units_and_revenue(
    world: World, shop: dict[str, str]
) -> None:
    assert await world.sales("day") == [
        {"key": "2024-03-01", "name": "2024-03-01", "orders": 2, "units": 4, "revenue": "63.47"},
        {"key": "2024-03-02", "name": "2024-03-02", "orders": 1, "units": 4, "revenue": "14.00"},
        {"key": "2024-03-04", "name": "2024-03-04", "orders": 1, "units": 1, "revenue": "250.00"},
    ]


async def test_sales_by_category_rank_by_revenue_with_current_names(
    world: World, shop: dict[str, str]
) -> None:
    await world.do(c.RenameCategory(category_id=shop["shoes"], name="Footwear"))
    assert await world.sales("category") == [
        {"key": shop["outdoor"], "name": "Outdoor", "orders": 1, "units": 1, "revenue": "250.00"},
        {"key": shop["shoes"], "name": "Footwear", "orders": 3, "units": 8, "revenue": "77.47"},
    ]


async def test_sales_by_product_rank_by_revenue(world: World, shop: dict[str, str]) -> None:
    assert await world.sales("product") == [
        {"key": shop["tent"], "name": "Tent", "orders": 1, "units": 1, "revenue": "250.00"},
        {
            "key": shop["runner"],
            "name": "Trail runner",
            "orders": 2,
            "units": 3,
            "revenue": "59.97",
        },
        {"key": shop["sock"], "name": "Wool sock", "orders": 2, "units": 5, "revenue": "17.50"},
    ]


async def test_date_filters_are_inclusive_utc_days(world: World, shop: dict[str, str]) -> None:
    days = await world.sales("day", start="2024-03-02")
    assert [r["key"] for r in days] == ["2024-03-02", "2024-03-04"]
    days = await world.sales("day", end="2024-03-02")
    assert [r["key"] for r in days] == ["2024-03-01", "2024-03-02"]
    assert [r["key"] for r in await world.sales("day", start="2024-03-04", end="2024-03-04")] == [
        "2024-03-04"
    ]
    assert await world.sales("day", start="2024-03-03", end="2024-03-03") == []
    products = await world.sales("product", start="2024-03-02", end="2024-03-03")
    assert products == [
        {"key": shop["sock"], "name": "Wool sock", "orders": 1, "units": 4, "revenue": "14.00"}
    ]
    categories = await world.sales("category", end="2024-03-01")
    assert [(r["name"], r["orders"], r["revenue"]) for r in categories] == [("Shoes", 2, "63.47")]


async def test_a_cancelled_order_stops_counting_after_it_was_projected(world: World) -> None:
    gear = await world.category("Gear")
    lamp = await world.product(gear, "Lamp", "12.00")
    order = await world.order(epoch(5), (lamp, 3))
    assert await world.sales("product") == [
        {"key": lamp, "name": "Lamp", "orders": 1, "units": 3, "revenue": "36.00"}
    ]

    await world.cancel(order)
    assert await world.sales("product") == []
    assert await world.sales("day") == []
    assert await world.sales("category") == []


async def test_a_cancelled_order_hands_the_product_name_back_to_the_newest_left(
    world: World,
) -> None:
    gear = await world.category("Gear")
    lamp = await world.product(gear, "Lamp", "12.00")
    await world.order(epoch(5, 9), (lamp, 1))
    await world.do(c.UpdateProductDetails(product_id=lamp, name="Lamp II"))
    renamed = await world.order(epoch(5, 10), (lamp, 1))
    assert [r["name"] for r in await world.sales("product")] == ["Lamp II"]

    await world.cancel(renamed)  # folded in a batch of its own
    assert await world.sales("product") == [
        {"key": lamp, "name": "Lamp", "orders": 1, "units": 1, "revenue": "12.00"}
    ]


async def test_an_order_placed_and_cancelled_in_one_batch_never_counts(world: World) -> None:
    gear = await world.category("Gear")
    lamp = await world.product(gear, "Lamp", "12.00")
    kept = await world.order(epoch(5), (lamp, 1))
    await world.cancel(await world.order(epoch(5), (lamp, 2)))
    assert kept
    assert await world.sales("day") == [
        {"key": "2024-03-05", "name": "2024-03-05", "orders": 1, "units": 1, "revenue": "12.00"}
    ]


async def test_no_sales_answers_empty_rows(world: World) -> None:
    for group_by in ("day", "category", "product"):
        assert await world.sales(group_by) == []


async def test_price_history_lists_every_price_oldest_first(world: World) -> None:
    gear = await world.category("Gear")
    lamp = await world.product(gear, "Lamp", "19.99")
    other = await world.product(gear, "Other", "1.00")
    await world.do(c.ChangePrice(product_id=lamp, price=Decimal("24.50")))
    await world.do(c.ChangePrice(product_id=other, price=Decimal("2.00")))
    await world.do(c.ChangePrice(product_id=lamp, price=Decimal("17")))

    history = await world.prices(lamp)
    assert history["product_id"] == lamp
    assert [p["price"] for p in history["points"]] == ["19.99", "24.50", "17.00"]
    times = [datetime.fromisoformat(p["at"]) for p in history["points"]]
    assert all(t.utcoffset() is not None and t.utcoffset().total_seconds() == 0 for t in times)
    assert times == sorted(times)
    # `at` is when the event was recorded, to the microsecond.
    events = [e for e in await world.cat.log_reader.read_after(0, 1000) if e.aggregate_id == lamp]
    recorded = [e.recorded_at for e in events if e.type in ("ProductCreated", "PriceChanged")]
    assert [t.timestamp() for t in times] == pytest.approx(recorded, abs=1e-6)
    assert [p["price"] for p in (await world.prices(other))["points"]] == ["1.00", "2.00"]


async def test_price_history_of_an_unknown_product_is_not_found(world: World) -> None:
    await world.category("Gear")
    missing = str(uuid4())
    await world.project()
    with pytest.raises(NotFound) as info:
        await world.price_reads.price_history(PriceHistory(product_id=missing))
    assert (info.value.kind, info.value.id) == ("product", missing)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (SalesAnalytics(start="2024-13-01"), "start"),
        (SalesAnalytics(start="2024-02-30"), "start"),
        (SalesAnalytics(start="20240301"), "start"),
        (SalesAnalytics(start="2024/03/01"), "start"),
        (SalesAnalytics(end="2024-03-01T00:00"), "end"),
        (SalesAnalytics(end="yesterday"), "end"),
        (SalesAnalytics(end=""), "end"),
        (SalesAnalytics(end="2024-03-01\n"), "end"),
        (SalesAnalytics(start="2024-03-02", end="2024-03-01"), "end"),
        (SalesAnalytics(group_by="week"), "group_by"),
        (SalesAnalytics(group_by="day; DROP TABLE sales_lines"), "group_by"),
    ],
)
async def test_bad_input_is_invalid_and_changes_nothing(
    world: World, query: SalesAnalytics, field: str
) -> None:
    await world.project()
    with pytest.raises(InvalidInput) as info:
        await world.sales_reads.sales_analytics(query)
    assert info.value.field == field
    assert await world.sales("day") == []


def test_every_grouping_the_rules_accept_has_its_statement() -> None:
    assert tuple(SALES_SQL) == GROUPINGS
    tables = SalesTables.named(table_prefix(PostgresSalesAnalyticsProjection))
    assert tuple(statements(tables)) == GROUPINGS


async def test_quoted_text_in_a_filter_is_a_value_not_sql(world: World) -> None:
    gear = await world.category("Robert'); DROP TABLE sales_lines; --")
    lamp = await world.product(gear, 'Lamp\'s "best"', "1.00")
    await world.order(epoch(5), (lamp, 1))
    rows = await world.sales("category")
    assert [r["name"] for r in rows] == ["Robert'); DROP TABLE sales_lines; --"]
    assert [r["name"] for r in await world.sales("product")] == ['Lamp\'s "best"']


async def test_reads_register_on_the_query_bus_under_their_read_models(
    world: World, shop: dict[str, str]
) -> None:
    bus = QueryBus()
    world.sales_reads.register(bus)
    world.price_reads.register(bus)
    assert bus.read_model_of(SalesAnalytics) == "sales_analytics"
    assert bus.read_model_of(PriceHistory) == "price_history"
    await world.project()
    answer = await bus.ask(SalesAnalytics(group_by="category", start="2024-03-04"))
    assert answer.value["rows"][0]["name"] == "Outdoor"
    history = await bus.ask(PriceHistory(product_id=shop["tent"]))
    assert history.value["points"][0]["price"] == "250.00"


async def test_the_composition_root_runs_both_read_models_live(tmp_path: Path) -> None:
    cat = build_embedded(Settings(data_dir=tmp_path / "data"))
    await cat.start()
    try:
        bus = cat.command_bus
        gear = (await bus.dispatch(c.CreateCategory(name="Gear"))).id
        lamp = (
            await bus.dispatch(
                c.CreateProduct(
                    sku="L1", name="Lamp", category_id=gear, price=Decimal("8.00"), initial_stock=5
                )
            )
        ).id
        cart = str(uuid4())
        await bus.dispatch(c.AddToCart(cart_id=cart, product_id=lamp, quantity=2, customer="al"))
        placed = await bus.dispatch(c.PlaceOrder(cart_id=cart, customer="al"))

        # Read-your-writes: waits for the DuckDB runner to apply the order.
        answer = await cat.query_bus.ask(
            SalesAnalytics(group_by="product"), min_version=placed.version, timeout=10
        )
        assert answer.read_version >= placed.version
        assert answer.value["rows"] == [
            {"key": lamp, "name": "Lamp", "orders": 1, "units": 2, "revenue": "16.00"}
        ]

        changed = await bus.dispatch(c.ChangePrice(product_id=lamp, price=Decimal("9.50")))
        history = await cat.query_bus.ask(
            PriceHistory(product_id=lamp), min_version=changed.version, timeout=10
        )
        assert [p["price"] for p in history.value["points"]] == ["8.00", "9.50"]

        cancelled = await bus.dispatch(c.CancelOrder(order_id=placed.id, customer="al"))
        answer = await cat.query_bus.ask(
            SalesAnalytics(group_by="day"), min_version=cancelled.version, timeout=10
        )
        assert answer.value["rows"] == []
        status = {s["name"]: s for s in cat.status()}
        assert status["sales_analytics"]["store"] == "duckdb"
        assert status["price_history"]["state"] in ("live", "catching_up")
        assert await cat.wait_until_caught_up(timeout=10)
    finally:
        await cat.stop()
        cat.close()

    # A restart resumes from the stored checkpoints instead of replaying.
    again = build_embedded(Settings(data_dir=tmp_path / "data"))
    await again.start(projections=False)
    try:
        head = again.head.value
        assert again.read_models["sales_analytics"].tracked.checkpoint.value == head
        assert again.read_models["price_history"].tracked.checkpoint.value == head
    finally:
        await again.stop()
        again.close()
