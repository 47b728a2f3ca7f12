"""Blue/green rebuilds of sync read models in the write database, stopped and restarted.

A stop cancels a rebuild, which drops its copy. A crash leaves it behind: the test
"crashes" a catalog by freezing it (holding its write lock, so its rebuild can take no
further step) and starting a second catalog on the same data, as a restarted process
would; the freeze is lifted only after the second one has stopped.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from tests.support.readmodels import dump_live, rebuild

from catalog.bootstrap import build_embedded
from catalog.domain import commands as c
from catalog.read_models.product_search.sqlite import ProductSearchProjection
from catalog.read_models.queries import GetCart, GetOrder, GetProduct, SearchProducts
from catalog.runtime.embedded import EmbeddedRuntime
from catalog.settings import Settings
from tandem.rebuilds.progress import Rebuild

PRODUCTS = 500  # several rebuild batches of 200 events


async def _history(cat: EmbeddedRuntime) -> list[str]:
    category = (await cat.command_bus.dispatch(c.CreateCategory(name="Lamps"))).id
    products = [
        (
            await cat.command_bus.dispatch(
                c.CreateProduct(
                    sku=f"L-{i}",
                    name=f"Lamp {i}",
                    category_id=category,
                    price=Decimal("12.50"),
                    initial_stock=40,
                )
            )
        ).id
        for i in range(PRODUCTS)
    ]
    return products


def _objects(settings: Settings) -> tuple[set[str], list[tuple[str, int, str]]]:
    """(tables of the write database, its recorded copies of product detail)."""
    conn = sqlite3.connect(settings.write_database)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        copies = conn.execute(
            "SELECT projection, generation, state FROM tandem_generations"
            " WHERE projection = 'product_detail' ORDER BY generation"
        ).fetchall()
        return tables, copies
    finally:
        conn.close()


async def _until(check: Callable[[], bool]) -> None:
    """Yield to the event loop until `check()` holds (each step of a rebuild yields)."""
    for _ in range(100_000):
        if check():
            return
        await asyncio.sleep(0)
    raise AssertionError("never happened")


async def _settled(progress: Rebuild, timeout: float = 60) -> None:
    """Wait until the rebuild has switched, failed or been cancelled."""
    for _ in range(int(timeout / 0.01)):
        if progress.state != "running":
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"rebuild of {progress.projection} still running")


def _equals_a_fold(settings: Settings, target: Path) -> None:
    live = dump_live(settings)
    rebuilt = rebuild(settings, target)
    for name in live:
        assert live[name] == rebuilt[name], f"{name} differs from a fold of the log"


async def _stop_mid_rebuild(settings: Settings) -> str:
    cat = build_embedded(settings)
    await cat.start()
    try:
        products = await _history(cat)
        progress = await cat.rebuild("product_detail")
        await _until(lambda: progress.checkpoint > 0)
        assert progress.state == "running" and progress.checkpoint < cat.head.value
        assert "product_detail_g2" in _objects(settings)[0]
    finally:
        await cat.stop()
        cat.close()
    assert progress.state == "cancelled"
    return products[0]


async def _serves_the_first_copy(settings: Settings, product: str) -> None:
    cat = build_embedded(settings)
    await cat.start()
    try:
        detail = next(r for r in cat.status() if r["name"] == "product_detail")
        assert (detail["state"], detail["version"], detail["rebuild"]) == ("live", 1, None)
        found = await cat.query_bus.ask(GetProduct(product_id=product), min_version=cat.head.value)
        assert found.value["name"] == "Lamp 0"
        assert await cat.wait_until_caught_up(timeout=30)
    finally:
        await cat.stop()
        cat.close()


def test_a_stopped_sync_rebuild_drops_its_copy_and_the_live_one_keeps_serving(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    product = asyncio.run(_stop_mid_rebuild(settings))
    tables, copies = _objects(settings)
    assert "product_detail" in tables and not any(t.endswith("_g2") for t in tables)
    assert copies == [("product_detail", 1, "live")]
    asyncio.run(_serves_the_first_copy(settings, product))
    _equals_a_fold(settings, tmp_path / "rebuilt")


async def _crash(
    settings: Settings, until: Callable[[Rebuild], bool]
) -> tuple[EmbeddedRuntime, Rebuild, str]:
    """A catalog frozen (its write lock held) once its rebuild of product detail reached
    `until`: what a killed process leaves on disk."""
    cat = build_embedded(settings)
    await cat.start()
    products = await _history(cat)
    progress = await cat.rebuild("product_detail")
    await _until(lambda: until(progress))
    await cat.writer.lock.acquire()
    return cat, progress, products[0]


async def _thaw(cat: EmbeddedRuntime) -> None:
    cat.writer.lock.release()
    await cat.stop()
    cat.close()


async def _restart_after_crash_while_building(settings: Settings) -> None:
    crashed, progress, product = await _crash(settings, lambda p: p.checkpoint > 0)
    try:
        assert progress.state == "running"
        tables, copies = _objects(settings)
        assert "product_detail_g2" in tables
        assert copies == [("product_detail", 1, "live"), ("product_detail", 2, "building")]
        await _serves_the_first_copy(settings, product)
        tables, copies = _objects(settings)
        assert "product_detail" in tables and "product_detail_g2" not in tables
        assert copies == [("product_detail", 1, "live")]
    finally:
        await _thaw(crashed)


async def _restart_after_crash_before_the_old_copy_is_dropped(settings: Settings) -> None:
    crashed, _, product = await _crash(settings, lambda p: p.state == "switched")
    try:
        tables, copies = _objects(settings)
        assert {"product_detail", "product_detail_g2"} <= tables
        assert copies == [("product_detail", 1, "retired"), ("product_detail", 2, "live")]
        cat = build_embedded(settings)
        await cat.start()
        try:
            found = await cat.query_bus.ask(GetProduct(product_id=product))
            assert found.value["name"] == "Lamp 0"
            assert found.read_version == cat.head.value
            assert await cat.wait_until_caught_up(timeout=30)
        finally:
            await cat.stop()
            cat.close()
        tables, copies = _objects(settings)
        assert "product_detail" not in tables and "product_detail_g2" in tables
        assert copies == [("product_detail", 2, "live")]
    finally:
        await _thaw(crashed)


def test_a_restart_after_a_crash_mid_rebuild_serves_a_complete_copy_and_drops_the_other(
    tmp_path: Path,
) -> None:
    building = Settings(data_dir=tmp_path / "building")
    asyncio.run(_restart_after_crash_while_building(building))
    _equals_a_fold(building, tmp_path / "rebuilt-building")
    switched = Settings(data_dir=tmp_path / "switched")
    asyncio.run(_restart_after_crash_before_the_old_copy_is_dropped(switched))
    _equals_a_fold(switched, tmp_path / "rebuilt-switched")


async def _rebuild_every_sqlite_model_at_level_2(settings: Settings) -> None:
    """Every SQLite read model is sync at level 2 (search with its FTS5 index too):
    rebuild each while commands and queries go on."""
    cat = build_embedded(settings)
    await cat.start()
    try:
        products = await _history(cat)
        cart = str(uuid.uuid4())
        await cat.command_bus.dispatch(
            c.AddToCart(cart_id=cart, product_id=products[0], quantity=2, customer="ann")
        )
        order = (await cat.command_bus.dispatch(c.PlaceOrder(cart_id=cart, customer="ann"))).id
        names = [r["name"] for r in cat.status() if r["mode"] == "sync"]
        assert set(names) == {
            "product_detail",
            "product_search",
            "category_stats",
            "cart_view",
            "order_view",
        }
        stop = asyncio.Event()
        seen: list[int] = []

        async def write() -> None:
            rng = random.Random(5)
            while not stop.is_set():
                price = Decimal(rng.randint(100, 9999)) / 100
                await cat.command_bus.dispatch(
                    c.ChangePrice(product_id=rng.choice(products), price=price)
                )
                await asyncio.sleep(0.001)

        async def read() -> None:
            floor = 0
            while not stop.is_set():
                for query in (
                    GetProduct(product_id=products[1]),
                    SearchProducts(q="lamp", limit=5),
                    GetCart(cart_id=cart, customer="ann"),
                    GetOrder(order_id=order, customer="ann"),
                ):
                    answer = await cat.query_bus.ask(query, min_version=floor)
                    assert answer.read_version >= floor
                    floor = answer.read_version
                seen.append(floor)
                await asyncio.sleep(0)

        tasks = [asyncio.create_task(write()), asyncio.create_task(read())]
        for name in names:
            progress = await cat.rebuild(name)
            await _settled(progress)
            assert progress.state == "switched", progress.describe()
        stop.set()
        await asyncio.gather(*tasks)
        assert len(seen) > 10
        assert await cat.wait_until_caught_up(30)  # the DuckDB models linger behind
        versions = {"product_search": ProductSearchProjection.version}
        assert all(r["version"] == versions.get(r["name"], 1) for r in cat.status())
        assert all(r["state"] == "live" for r in cat.status())
        await asyncio.sleep(2.5)  # the old copies are dropped after a grace period
    finally:
        await cat.stop()
        cat.close()


def test_every_sqlite_read_model_rebuilds_in_the_write_database_at_level_2(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "data", level=2)
    asyncio.run(_rebuild_every_sqlite_model_at_level_2(settings))
    _equals_a_fold(settings, tmp_path / "rebuilt")
    conn = sqlite3.connect(settings.write_database)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    for table in ("product_detail", "ps_products", "ps_fts", "cs_categories", "cv_carts"):
        assert table not in names and f"{table}_g2" in names
    assert "ov_orders_g2" in names and "ov_orders" not in names
