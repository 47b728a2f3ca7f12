"""Separation level 1 answers every query as the read models do, on the same data.

A catalog is seeded through the command bus (categories three deep, a rename, products
moved, repriced, restocked and discontinued, carts, orders, a cancellation); then each
query's level-1 answer, read from the write tables, is compared with the level-3 read
model's answer: on SQLite against the embedded read models, on PostgreSQL against
Redis and the search read database. Search results may be ordered differently under
`relevance` (compared as sets over every page); every other order must be identical,
cursors included. What level 1 and every read model must answer, written out by hand,
is the read-model contract (`tests/contracts/read_models/`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from catalog.bootstrap import build_embedded
from catalog.domain import commands as c
from catalog.domain.errors import NotFound
from catalog.read_models import queries as q
from catalog.read_models.level1 import READ_MODEL
from catalog.read_models.level1.wiring import DirectReads
from catalog.runtime.contract import RebuildUnsupported
from catalog.runtime.embedded import EmbeddedRuntime
from catalog.settings import Settings, SettingsError
from tandem.bus import QueryBus
from tandem.errors import ReadModelBehind
from tandem.messages import Query
from tandem.middleware import consistency

Dispatch = Callable[[Any], Awaitable[Any]]

ADJECTIVES = ["Swift", "Rugged", "Quiet", "Bright", "Heavy"]
NOUNS = {"Trail": "Runner", "Road": "Racer", "Skillet": "Griddle", "Kettle": "Brewer"}


@dataclass
class Seeded:
    categories: list[str] = field(default_factory=list)
    products: list[str] = field(default_factory=list)
    carts: list[str] = field(default_factory=list)
    orders: list[str] = field(default_factory=list)
    version: int = 0  # of the last command


async def seed(do: Dispatch) -> Seeded:
    """A small catalog exercising every read model."""
    s = Seeded()
    dispatch = do

    async def do(command: Any) -> Any:
        result = await dispatch(command)
        s.version = max(s.version, result.version)
        return result

    async def category(name: str, parent: str | None = None) -> str:
        s.categories.append((await do(c.CreateCategory(name=name, parent_id=parent))).id)
        return s.categories[-1]

    shoes = await category("Footwear")
    trail = await category("Trail", shoes)
    ultra = await category("Ultra", trail)
    road = await category("Road", shoes)
    kitchen = await category("Kitchen")
    pans = await category("Skillet", kitchen)
    await category("Empty", kitchen)
    leaves = {"Trail": ultra, "Road": road, "Skillet": pans, "Kettle": kitchen}
    for i in range(40):
        kind = list(NOUNS)[i % 4]
        name = f"{ADJECTIVES[i % 5]} {kind} {NOUNS[kind]}"
        created = await do(
            c.CreateProduct(
                sku=f"LV-{i:03d}",
                name=name,
                description=f"Model {i} for {kind.lower()} use, size {i % 7}",
                category_id=leaves[kind] if i % 3 else trail if kind == "Trail" else leaves[kind],
                price=Decimal(f"{5 + (i * 37) % 600}.{i % 100:02d}"),
                initial_stock=0 if i % 6 == 0 else i,
                attributes={"colour": ["red", "blue"][i % 2]},
            )
        )
        s.products.append(created.id)
    p = s.products
    await do(c.ChangePrice(product_id=p[1], price=Decimal("12.50")))
    await do(c.ChangePrice(product_id=p[1], price=Decimal("11.00")))
    await do(c.ChangePrice(product_id=p[2], price=Decimal("250")))
    await do(c.AdjustStock(product_id=p[3], delta=5, reason="restock"))
    await do(c.AdjustStock(product_id=p[5], delta=-5, reason="count"))
    await do(c.UpdateProductDetails(product_id=p[4], name="Swift Kettle Deluxe", category_id=pans))
    await do(c.DiscontinueProduct(product_id=p[7]))
    await do(c.RenameCategory(category_id=shoes, name="Running Shoes"))
    for n, customer in enumerate(["ann", "bob", "cy"]):
        cart = str(uuid.uuid4())
        s.carts.append(cart)
        for product in (p[9 + n], p[11], p[13 + 4 * n]):
            await do(
                c.AddToCart(cart_id=cart, product_id=product, quantity=n + 1, customer=customer)
            )
        if n < 2:
            s.orders.append((await do(c.PlaceOrder(cart_id=cart, customer=customer))).id)
    await do(c.CancelOrder(order_id=s.orders[1], customer="bob"))
    await do(c.ChangePrice(product_id=p[11], price=Decimal("99.99")))  # carts price it now
    return s


Ask = Callable[[Query], Awaitable[Any]]


async def _both(level3: Ask, level1: Ask, query: Query) -> tuple[Any, Any]:
    return await level3(query), await level1(query)


async def _pages(ask: Ask, query: q.SearchProducts) -> list[dict[str, Any]]:
    pages = [await ask(query)]
    while pages[-1]["next_cursor"] is not None:
        cursor = pages[-1]["next_cursor"]
        pages.append(await ask(q.SearchProducts(**{**query.__dict__, "cursor": cursor})))
    return pages


SEARCHES: list[dict[str, Any]] = [
    {},
    {"q": "trail"},
    {"q": "runner swift"},
    {"q": "running"},  # the renamed root's name, in the category path
    {"q": "kettle", "in_stock": True},
    {"q": "lv"},
    {"in_stock": False},
    {"min_price": Decimal("20"), "max_price": Decimal("300.5")},
    {"q": "model", "min_price": Decimal("100")},
    {"q": "nothingmatches"},
]
SORTS = ["relevance", "price_asc", "price_desc", "newest"]


async def compare_everything(level3: Ask, level1: Ask, s: Seeded) -> None:
    for product in s.products:
        a, b = await _both(level3, level1, q.GetProduct(product_id=product))
        assert a == b
        a, b = await _both(level3, level1, q.PriceHistory(product_id=product))
        assert a == b
    a, b = await _both(level3, level1, q.ListCategories())
    assert a == b
    for category in s.categories:
        a, b = await _both(level3, level1, q.GetCategoryStats(category_id=category))
        assert a == b
    for cart in s.carts:
        a, b = await _both(level3, level1, q.GetCart(cart_id=cart, customer="x", admin=True))
        assert a == b
    for order in s.orders:
        a, b = await _both(level3, level1, q.GetOrder(order_id=order, customer="x", admin=True))
        assert a == b
    today = datetime.now(UTC).date()
    for group_by in ("day", "category", "product"):
        for start, end in [(None, None), (today, today), (today + timedelta(1), None)]:
            query = q.SalesAnalytics(
                start=start and start.isoformat(), end=end and end.isoformat(), group_by=group_by
            )
            a, b = await _both(level3, level1, query)
            assert a == b
            assert start is not None or a["rows"], a
    for params in SEARCHES:
        for category in (None, s.categories[0], s.categories[1], s.categories[6]):
            for sort in SORTS:
                query = q.SearchProducts(**params, category=category, sort=sort, limit=7)
                expected = await _pages(level3, query)
                found = await _pages(level1, query)
                if sort == "relevance" and params.get("q"):
                    for page in (*expected, *found):
                        page.pop("next_cursor")
                        page["items"].sort(key=lambda item: item["id"])
                    assert sorted(i["id"] for p in found for i in p["items"]) == sorted(
                        i["id"] for p in expected for i in p["items"]
                    ), (params, category)
                    assert found[0]["total"] == expected[0]["total"]
                    assert found[0]["facets"] == expected[0]["facets"]
                else:
                    assert found == expected, (params, category, sort)


def _asker(bus: QueryBus, min_version: int = 0) -> Ask:
    async def ask(query: Query) -> Any:
        try:
            return (await bus.ask(query, min_version=min_version, timeout=20)).value
        except NotFound:
            return "not found"

    return ask


def _level1_bus(direct: DirectReads) -> QueryBus:
    bus = QueryBus([consistency(direct.tracked)])
    direct.reads.register(bus)
    return bus


@pytest.fixture
async def embedded(tmp_path: Path) -> AsyncIterator[EmbeddedRuntime]:
    cat = build_embedded(Settings(data_dir=tmp_path))
    await cat.start()
    try:
        yield cat
    finally:
        await cat.stop()
        cat.close()


async def test_level1_answers_as_the_embedded_read_models(embedded: EmbeddedRuntime) -> None:
    seeded = await seed(embedded.command_bus.dispatch)
    direct = DirectReads.sqlite(embedded.settings.write_database, embedded.head)
    try:
        await compare_everything(
            _asker(embedded.query_bus, seeded.version),
            _asker(_level1_bus(direct), seeded.version),
            seeded,
        )
    finally:
        direct.close()


async def test_level1_reads_at_the_head_and_waits_for_later_versions(tmp_path: Path) -> None:
    cat = build_embedded(Settings(data_dir=tmp_path, level=1))
    await cat.start()
    try:
        assert cat.read_models == {} and cat.status() == []
        category = await cat.command_bus.dispatch(c.CreateCategory(name="Lamps"))
        result = await cat.query_bus.ask(q.ListCategories(), min_version=category.version)
        assert result.read_version == cat.head.value >= category.version
        assert result.value["categories"][0]["name"] == "Lamps"
        with pytest.raises(ReadModelBehind):
            await cat.query_bus.ask(
                q.ListCategories(), min_version=cat.head.value + 1, timeout=0.05
            )
        assert cat.query_bus.read_model_of(q.GetProduct) == READ_MODEL
        with pytest.raises(RebuildUnsupported):
            await cat.rebuild("product_detail")
    finally:
        await cat.stop()
        cat.close()


def test_level_settings() -> None:
    pg = {"TANDEM_DATABASE_URL": "postgresql://x/y"}
    assert Settings.from_env({"TANDEM_LEVEL": "1"}).level == 1
    assert Settings.from_env({**pg, "TANDEM_LEVEL": "1"}).level == 1  # no Redis, no read DB
    with pytest.raises(SettingsError, match="embedded profile only"):
        Settings.from_env({**pg, "TANDEM_LEVEL": "2", "TANDEM_REDIS_URL": "redis://x"})
    with pytest.raises(SettingsError, match="1, 2 or 3"):
        Settings.from_env({"TANDEM_LEVEL": "4"})


@pytest.mark.services
async def test_level1_answers_as_the_services_read_models(tmp_path: Path) -> None:
    import redis.asyncio
    from tests.support.services import (
        REDIS_URL,
        create_database,
        drop_database,
        redis_prefix,
    )
    from tests.support.services_readmodels import delete_prefix

    from catalog.bootstrap import build_services
    from catalog.migrations import MIGRATIONS
    from catalog.runtime.contract import Role
    from tandem.db.postgres import create_pool
    from tandem.migrations import migrate

    write_db = await create_database()
    read_db = None
    prefix = redis_prefix()
    try:
        read_db = await create_database("tandem_r")
        pool = await create_pool(write_db.url, min_size=1, max_size=1)
        async with pool.acquire() as conn:
            await migrate(conn, MIGRATIONS)
        await pool.close()
        settings = Settings.from_env(
            {
                "TANDEM_DATA_DIR": str(tmp_path),
                "TANDEM_DATABASE_URL": write_db.url,
                "TANDEM_READ_DATABASE_URL": read_db.url,
                "TANDEM_REDIS_URL": REDIS_URL,
                "TANDEM_REDIS_PREFIX": prefix,
            }
        )
        cat = build_services(settings, roles=(Role.API, Role.WORKER))
        await cat.start()
        try:
            seeded = await seed(cat.command_bus.dispatch)
            direct = DirectReads.postgres(cat.pool, cat.head)
            await compare_everything(
                _asker(cat.query_bus, seeded.version),
                _asker(_level1_bus(direct), seeded.version),
                seeded,
            )
        finally:
            await cat.stop()
            await cat.aclose()
    finally:
        client = redis.asyncio.Redis.from_url(REDIS_URL)
        await delete_prefix(client, prefix)
        await client.aclose()
        await drop_database(write_db)
        if read_db is not None:
            await drop_database(read_db)
