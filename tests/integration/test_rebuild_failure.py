"""A rebuild whose new copy cannot be folded fails visibly and changes nothing served.

Category stats (an asynchronous read model, a file of its own) is rebuilt by code that
breaks on a product event: the copy's runner retries, then stops in `failed`; the
rebuild reports it, its file is removed, and the live copy keeps serving and following
the log.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import pytest

import catalog.bootstrap
from catalog.bootstrap import build_embedded
from catalog.domain import commands as c
from catalog.read_models.category_stats.sqlite import CategoryStatsProjection
from catalog.read_models.queries import GetCategoryStats
from catalog.read_models.registry import READ_MODELS
from catalog.settings import Settings
from tandem.messages import StoredEvent
from tandem.rebuilds.progress import Rebuild


class BreaksWhenAsked(CategoryStatsProjection):
    """Category stats whose new copies fail on the first product they fold."""

    broken: ClassVar[bool] = False

    def apply(self, tx: sqlite3.Connection, event: StoredEvent) -> None:
        if type(self).broken and event.type == "ProductCreated":
            raise RuntimeError("this code cannot fold products")
        super().apply(tx, event)


async def _settled(progress: Rebuild, timeout: float = 30) -> None:
    for _ in range(int(timeout / 0.01)):
        if progress.state != "running":
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"rebuild of {progress.projection} still running")


async def test_a_failed_rebuild_drops_its_copy_and_the_live_one_serves_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    specs = tuple(
        dataclasses.replace(spec, projection=BreaksWhenAsked)
        if spec.projection().name == CategoryStatsProjection.name
        else spec
        for spec in READ_MODELS
    )
    monkeypatch.setattr(catalog.bootstrap, "READ_MODELS", specs)
    cat = build_embedded(Settings(data_dir=tmp_path))
    await cat.start()
    try:
        category = (await cat.command_bus.dispatch(c.CreateCategory(name="Lamps"))).id
        product = c.CreateProduct(
            sku="L-1", name="Lamp", category_id=category, price=Decimal("12.50"), initial_stock=4
        )
        product_id = (await cat.command_bus.dispatch(product)).id
        assert await cat.wait_until_caught_up(timeout=10)
        live = cat.read_models["category_stats"].tracked
        read = tmp_path / "read"
        files_before = sorted(p.name for p in read.iterdir())

        BreaksWhenAsked.broken = True  # the live runner has folded every product already
        progress = await cat.rebuild("category_stats")
        await _settled(progress)

        assert progress.state == "failed"
        assert progress.error is not None and "cannot fold products" in progress.error
        assert cat.read_models["category_stats"].tracked is live
        assert sorted(p.name for p in read.iterdir()) == files_before
        BreaksWhenAsked.broken = False
        # The live copy still serves, and still follows the log.
        moved = await cat.command_bus.dispatch(
            c.AdjustStock(product_id=product_id, delta=3, reason="delivery")
        )
        stats = await cat.query_bus.ask(
            GetCategoryStats(category_id=category), min_version=moved.version
        )
        assert stats.value["total_stock"] == 7
        row = next(r for r in cat.status() if r["name"] == "category_stats")
        assert row["rebuild"]["state"] == "failed"
    finally:
        BreaksWhenAsked.broken = False
        await cat.stop()
        cat.close()
