"""Category stats fed by the real write side's event log."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from tests.support.folding import all_events, fold_into_write_database, fold_log

from catalog.domain import commands as c
from catalog.domain.errors import NotFound
from catalog.read_models.category_stats.sqlite import CategoryStatsProjection
from catalog.read_models.category_stats.sqlite_reads import CategoryStatsReads
from catalog.read_models.queries import GetCategoryStats, ListCategories
from catalog.read_models.sqlite_scopes import TABLE_SUFFIXES
from catalog.runtime.embedded import EmbeddedRuntime
from tandem.bus import QueryBus
from tandem.messages import StoredEvent
from tandem.stores.sqlite import SqliteProjectionStore


class World:
    """A running catalog plus the category-stats read model in its own store."""

    def __init__(self, cat: EmbeddedRuntime, store: SqliteProjectionStore) -> None:
        self.cat = cat
        self.store = store
        self.projection = CategoryStatsProjection()
        self.reads = CategoryStatsReads(store.reader)

    async def do(self, command: Any) -> str:
        return (await self.cat.command_bus.dispatch(command)).id

    async def category(self, name: str, parent: str | None = None) -> str:
        return await self.do(c.CreateCategory(name=name, parent_id=parent))

    async def product(self, category: str, price: str, stock: int = 0, sku: str = "") -> str:
        return await self.do(
            c.CreateProduct(
                sku=sku or uuid4().hex[:12],
                name=f"Product {price}",
                category_id=category,
                price=Decimal(price),
                initial_stock=stock,
            )
        )

    async def events(self) -> list[StoredEvent]:
        return await all_events(self.cat)

    async def project(self) -> int:
        return await fold_log(self.cat, self.store, self.projection)

    async def stats(self, category: str) -> dict[str, Any]:
        await self.project()
        return await self.reads.get_category_stats(GetCategoryStats(category_id=category))


@pytest.fixture
async def world(catalog: EmbeddedRuntime, tmp_path: Path) -> AsyncIterator[World]:
    # Outside the catalog's own read directory, where it may run this projection itself.
    store = SqliteProjectionStore(tmp_path / "under-test" / "category_stats.db")
    try:
        yield World(catalog, store)
    finally:
        store.close()


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of a store as sorted rows, but the scope changes (recorded per batch)."""
    conn = sqlite3.connect(path)
    try:
        tables = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            if not r[0].endswith(TABLE_SUFFIXES)
        ]
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in sorted(tables)}
    finally:
        conn.close()


async def test_stats_aggregate_the_whole_subtree(world: World) -> None:
    shoes = await world.category("Shoes")
    running = await world.category("Running", shoes)
    trail = await world.category("Trail", running)
    boots = await world.category("Boots", shoes)
    bags = await world.category("Bags")
    await world.product(trail, "19.99", stock=3)
    await world.product(running, "50.00", stock=0)
    await world.product(boots, "120.50", stock=7)
    await world.product(bags, "5.00", stock=1)

    assert await world.stats(shoes) == {
        "category_id": shoes,
        "name": "Shoes",
        "product_count": 3,
        "in_stock_count": 2,
        "min_price": "19.99",
        "max_price": "120.50",
        "avg_price": "63.50",  # 190.49 / 3 = 63.4966…, rounded half up
        "total_stock": 10,
    }
    running_stats = await world.stats(running)
    assert running_stats["product_count"] == 2
    assert running_stats["in_stock_count"] == 1
    assert (running_stats["min_price"], running_stats["max_price"]) == ("19.99", "50.00")
    assert running_stats["avg_price"] == "35.00"  # 69.99 / 2 = 34.995, half up
    trail_stats = await world.stats(trail)
    assert (trail_stats["product_count"], trail_stats["total_stock"]) == (1, 3)
    assert (await world.stats(bags))["avg_price"] == "5.00"


async def test_empty_category_has_zero_counts_and_null_prices(world: World) -> None:
    empty = await world.category("Empty")
    assert await world.stats(empty) == {
        "category_id": empty,
        "name": "Empty",
        "product_count": 0,
        "in_stock_count": 0,
        "min_price": None,
        "max_price": None,
        "avg_price": None,
        "total_stock": 0,
    }


async def test_unknown_category_is_not_found(world: World) -> None:
    await world.project()
    missing = str(uuid4())
    with pytest.raises(NotFound) as info:
        await world.reads.get_category_stats(GetCategoryStats(category_id=missing))
    assert (info.value.kind, info.value.id) == ("category", missing)


async def test_min_and_max_follow_price_changes_of_the_extreme_products(world: World) -> None:
    root = await world.category("Root")
    cheap = await world.product(root, "10.00")
    await world.product(root, "20.00")
    dear = await world.product(root, "30.00")
    await world.do(c.ChangePrice(product_id=cheap, price=Decimal("25.00")))
    stats = await world.stats(root)
    assert (stats["min_price"], stats["max_price"], stats["avg_price"]) == (
        "20.00",
        "30.00",
        "25.00",
    )
    await world.do(c.ChangePrice(product_id=dear, price=Decimal("1.50")))
    stats = await world.stats(root)
    assert (stats["min_price"], stats["max_price"]) == ("1.50", "25.00")


async def test_equal_prices_are_counted_so_one_leaving_keeps_the_other(world: World) -> None:
    root = await world.category("Root")
    first = await world.product(root, "10.00")
    await world.product(root, "10.00")
    await world.product(root, "40.00")
    await world.do(c.ChangePrice(product_id=first, price=Decimal("50.00")))
    stats = await world.stats(root)
    assert (stats["min_price"], stats["max_price"]) == ("10.00", "50.00")


async def test_discontinued_products_leave_the_stats(world: World) -> None:
    parent = await world.category("Parent")
    child = await world.category("Child", parent)
    cheap = await world.product(child, "3.00", stock=4)
    await world.product(parent, "9.00", stock=2)
    await world.do(c.DiscontinueProduct(product_id=cheap))
    assert await world.stats(parent) == {
        "category_id": parent,
        "name": "Parent",
        "product_count": 1,
        "in_stock_count": 1,
        "min_price": "9.00",
        "max_price": "9.00",
        "avg_price": "9.00",
        "total_stock": 2,
    }
    child_stats = await world.stats(child)
    assert (child_stats["product_count"], child_stats["total_stock"]) == (0, 0)
    # Stock still moves on a discontinued product (restocks, corrections) but no longer
    # counts anywhere.
    await world.do(c.AdjustStock(product_id=cheap, delta=10, reason="found"))
    assert (await world.stats(parent))["total_stock"] == 2
    assert (await world.stats(child))["min_price"] is None


async def test_moving_a_product_shifts_it_between_subtrees(world: World) -> None:
    root = await world.category("Root")
    left = await world.category("Left", root)
    right = await world.category("Right", root)
    moving = await world.product(left, "1.00", stock=5)
    await world.product(left, "8.00", stock=0)
    await world.product(right, "4.00", stock=1)
    before_root = await world.stats(root)

    await world.do(c.UpdateProductDetails(product_id=moving, category_id=right))
    left_stats, right_stats = await world.stats(left), await world.stats(right)
    assert (left_stats["product_count"], left_stats["in_stock_count"]) == (1, 0)
    assert (left_stats["min_price"], left_stats["total_stock"]) == ("8.00", 0)
    assert (right_stats["product_count"], right_stats["in_stock_count"]) == (2, 2)
    assert (right_stats["min_price"], right_stats["max_price"]) == ("1.00", "4.00")
    assert right_stats["total_stock"] == 6
    # The common ancestor keeps the product: nothing about it changes.
    assert await world.stats(root) == before_root

    await world.do(c.UpdateProductDetails(product_id=moving, name="Renamed only"))
    assert await world.stats(right) == right_stats


async def test_stock_changes_update_totals_and_in_stock_count(world: World) -> None:
    root = await world.category("Root")
    product = await world.product(root, "2.00", stock=0)
    assert (await world.stats(root))["in_stock_count"] == 0
    await world.do(c.AdjustStock(product_id=product, delta=2, reason="delivery"))
    stats = await world.stats(root)
    assert (stats["in_stock_count"], stats["total_stock"]) == (1, 2)
    cart = str(uuid4())
    await world.do(c.AddToCart(cart_id=cart, product_id=product, quantity=2, customer="al"))
    order = await world.do(c.PlaceOrder(cart_id=cart, customer="al"))
    stats = await world.stats(root)
    assert (stats["in_stock_count"], stats["total_stock"]) == (0, 0)
    await world.do(c.CancelOrder(order_id=order, customer="al"))
    stats = await world.stats(root)
    assert (stats["in_stock_count"], stats["total_stock"]) == (1, 2)


async def test_tree_lists_categories_by_name_with_subtree_counts(world: World) -> None:
    zed = await world.category("Zed")
    alpha = await world.category("Alpha")
    beta = await world.category("Beta", alpha)
    aaa = await world.category("Aaa", alpha)
    await world.product(beta, "1.00")
    await world.product(aaa, "1.00")
    await world.product(zed, "1.00")
    await world.do(c.RenameCategory(category_id=beta, name="Able"))
    await world.project()

    tree = (await world.reads.list_categories(ListCategories()))["categories"]
    assert [node["name"] for node in tree] == ["Alpha", "Zed"]
    assert tree[0] == {
        "id": alpha,
        "name": "Alpha",
        "slug": "alpha",
        "parent_id": None,
        "product_count": 2,
        "children": [
            {
                "id": aaa,
                "name": "Aaa",
                "slug": "aaa",
                "parent_id": alpha,
                "product_count": 1,
                "children": [],
            },
            {
                "id": beta,
                "name": "Able",
                "slug": "able",
                "parent_id": alpha,
                "product_count": 1,
                "children": [],
            },
        ],
    }
    assert (await world.stats(beta))["name"] == "Able"


async def test_applying_the_same_batch_twice_changes_nothing(world: World) -> None:
    root = await world.category("Root")
    product = await world.product(root, "7.00", stock=1)
    await world.do(c.ChangePrice(product_id=product, price=Decimal("6.00")))
    checkpoint = await world.project()
    before = dump(world.store.path)
    assert await world.store.apply(world.projection, await world.events()) == checkpoint
    assert dump(world.store.path) == before


async def test_event_by_event_equals_one_batch(world: World, tmp_path: Path) -> None:
    root = await world.category("Root")
    child = await world.category("Child", root)
    a = await world.product(root, "7.00", stock=1)
    b = await world.product(child, "3.00", stock=0)
    await world.do(c.UpdateProductDetails(product_id=a, category_id=child))
    await world.do(c.AdjustStock(product_id=b, delta=4, reason="delivery"))
    await world.do(c.DiscontinueProduct(product_id=a))
    await world.project()

    single = SqliteProjectionStore(tmp_path / "single.db")
    try:
        projection = CategoryStatsProjection()
        await single.setup(projection)
        for event in await world.events():
            await single.apply(projection, [event])
        assert dump(single.path) == dump(world.store.path)
    finally:
        single.close()


async def test_queries_are_bound_to_the_category_stats_read_model(world: World) -> None:
    root = await world.category("Root")
    await world.project()
    bus = QueryBus()
    world.reads.register(bus)
    assert bus.read_model_of(GetCategoryStats) == "category_stats"
    assert bus.read_model_of(ListCategories) == "category_stats"
    result = await bus.ask(GetCategoryStats(category_id=root))
    assert result.value["category_id"] == root


async def test_runs_inside_the_write_database_beside_the_write_tables(world: World) -> None:
    root = await world.category("Root")
    await world.product(root, "7.00", stock=1)
    events = await world.events()
    applied = await fold_into_write_database(world.cat, CategoryStatsProjection())
    assert applied == events[-1].position
