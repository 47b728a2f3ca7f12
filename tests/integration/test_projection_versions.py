"""Projection versions: a read model built by another version of its projection is
served as it is while a copy of the declared version is built, then the new one serves.

A catalog writes with version 1 of product detail (sync) and category stats (async) and
stops; version 2 of each is then registered in place of version 1 and the catalog
starts again on the same data.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
import tests.support.readmodels
from tests.support.readmodels import dump_live, rebuild

import catalog.bootstrap
from catalog.bootstrap import build_embedded
from catalog.domain import commands as c
from catalog.read_models.category_stats.sqlite import CategoryStatsProjection
from catalog.read_models.product_detail.sqlite import ProductDetailProjection
from catalog.read_models.queries import GetCategoryStats, GetProduct
from catalog.read_models.registry import READ_MODELS, EmbeddedReadModel
from catalog.runtime.embedded import EmbeddedRuntime
from catalog.settings import Settings
from tandem.errors import ReadModelBehind
from tandem.messages import StoredEvent
from tandem.rebuilds.progress import Rebuild

PRODUCTS = 500  # several rebuild batches of 200 events


class ProductDetailV2(ProductDetailProjection):
    """Version 2 shows product names in capitals."""

    version = 2

    def apply(self, tx: sqlite3.Connection, event: StoredEvent) -> None:
        if event.type in ("ProductCreated", "ProductDetailsUpdated"):
            event = dataclasses.replace(
                event, data={**event.data, "name": event.data["name"].upper()}
            )
        super().apply(tx, event)


class CategoryStatsV2(CategoryStatsProjection):
    version = 2


def _register_version_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Version 2 in place of version 1, for the catalog and for the dump helpers."""
    replaced = {"product_detail": ProductDetailV2, "category_stats": CategoryStatsV2}
    specs = tuple(
        dataclasses.replace(spec, projection=replaced.get(spec.projection().name, spec.projection))
        for spec in READ_MODELS
    )
    monkeypatch.setattr(catalog.bootstrap, "READ_MODELS", specs)
    monkeypatch.setattr(tests.support.readmodels, "READ_MODELS", specs)


def _model(name: str) -> EmbeddedReadModel:
    return next(s for s in catalog.bootstrap.READ_MODELS if s.projection().name == name)


async def _write_with_version_1(settings: Settings) -> tuple[str, str, int]:
    cat = build_embedded(settings)
    await cat.start()
    try:
        category = (await cat.command_bus.dispatch(c.CreateCategory(name="Lamps"))).id
        product = ""
        for i in range(PRODUCTS):
            product = (
                await cat.command_bus.dispatch(
                    c.CreateProduct(
                        sku=f"L-{i}",
                        name=f"Lamp {i}",
                        category_id=category,
                        price=Decimal("12.50"),
                        initial_stock=4,
                    )
                )
            ).id
        assert await cat.wait_until_caught_up(timeout=30)
        return category, product, cat.head.value
    finally:
        await cat.stop()
        cat.close()


async def _settled(progress: Rebuild, timeout: float = 60) -> None:
    """Wait until the rebuild has switched, failed or been cancelled."""
    for _ in range(int(timeout / 0.01)):
        if progress.state != "running":
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"rebuild of {progress.projection} still running")


def _row(cat: EmbeddedRuntime, name: str) -> dict[str, object]:
    return next(r for r in cat.status() if r["name"] == name)


async def _start_with_version_2(
    settings: Settings, category: str, product: str, written: int
) -> None:
    cat = build_embedded(settings)
    await cat.start()
    try:
        # Started, before any rebuild step ran: version 1 serves, rebuilds to 2 run.
        for name in ("product_detail", "category_stats"):
            row = _row(cat, name)
            assert (row["version"], row["state"], row["checkpoint"]) == (1, "outdated", written)
            rebuilding = row["rebuild"]
            assert isinstance(rebuilding, dict)
            assert (rebuilding["version"], rebuilding["state"]) == (2, "running")
        # Commands go on; the old copy is not run by the new code, so it stays behind.
        changed = await cat.command_bus.dispatch(
            c.ChangePrice(product_id=product, price=Decimal("9.99"))
        )
        # The sync copy's rebuild needs the write lock for each batch: hold it.
        await cat.writer.lock.acquire()
        try:
            old = await cat.query_bus.ask(GetProduct(product_id=product))
            assert (old.value["name"], old.value["price"]) == (f"Lamp {PRODUCTS - 1}", "12.50")
            assert old.read_version == written
            with pytest.raises(ReadModelBehind):
                await cat.query_bus.ask(
                    GetProduct(product_id=product), min_version=changed.version, timeout=0.2
                )
            assert _row(cat, "product_detail")["version"] == 1
        finally:
            cat.writer.lock.release()
        # Once switched, version 2 serves, with what was written meanwhile.
        new = await cat.query_bus.ask(
            GetProduct(product_id=product), min_version=changed.version, timeout=10
        )
        assert (new.value["name"], new.value["price"]) == (f"LAMP {PRODUCTS - 1}", "9.99")
        stats = await cat.query_bus.ask(
            GetCategoryStats(category_id=category), min_version=changed.version, timeout=10
        )
        assert stats.read_version >= changed.version
        for name in ("product_detail", "category_stats"):
            await _settled(cat.rebuilds[name])
        assert await cat.wait_until_caught_up(timeout=30)
        for name in ("product_detail", "category_stats"):
            row = _row(cat, name)
            assert (row["version"], row["state"]) == (2, "live"), row
            assert row["rebuild"] == cat.rebuilds[name].describe()
            assert cat.rebuilds[name].state == "switched"
        await asyncio.sleep(2.5)  # the old copies are dropped after a grace period
    finally:
        await cat.stop()
        cat.close()


async def _restart_serves_version_2(settings: Settings) -> None:
    cat = build_embedded(settings)
    await cat.start()
    try:
        for name in ("product_detail", "category_stats"):
            row = _row(cat, name)
            assert (row["version"], row["state"], row["rebuild"]) == (2, "live", None)
        assert cat.rebuilds == {}
    finally:
        await cat.stop()
        cat.close()


def test_a_new_projection_version_serves_the_old_copy_until_its_rebuild_switches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    category, product, written = asyncio.run(_write_with_version_1(settings))
    _register_version_2(monkeypatch)
    assert _model("product_detail").projection is ProductDetailV2
    asyncio.run(_start_with_version_2(settings, category, product, written))
    asyncio.run(_restart_serves_version_2(settings))

    live = dump_live(settings)
    rebuilt = rebuild(settings, tmp_path / "rebuilt")
    for name in live:
        assert live[name] == rebuilt[name], f"{name} differs from a fold of the log"
    # Only the version 2 copies are left: new tables in the write database, a new file.
    write = sqlite3.connect(settings.write_database)
    tables = {r[0] for r in write.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    generations = write.execute(
        "SELECT projection, generation, version, state FROM tandem_generations ORDER BY projection"
    ).fetchall()
    write.close()
    assert {"product_detail_g2", "pd_categories_g2"} <= tables
    assert not {"product_detail", "pd_categories"} & tables
    assert generations == [("cart_view", 1, 1, "live"), ("product_detail", 2, 2, "live")]
    read = settings.data_dir / "read"
    assert (read / "category_stats.live").read_text().strip() == "category_stats.g2.db"
    assert not (read / "category_stats.db").exists()
