"""A projection whose code declares a new version: the old copy serves as it was until
a copy of the new version, built beside it, takes over; then the old copy is dropped.

Two catalogs (API and worker roles in one process) run one after the other on the same
databases, as two deployments of different code would: the second declares the next
version of product search and category stats.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio

from catalog.bootstrap import build_services
from catalog.domain.commands import ChangePrice, CreateCategory, CreateProduct
from catalog.migrations import MIGRATIONS
from catalog.read_models.queries import SearchProducts
from catalog.runtime.contract import Role
from catalog.runtime.rebuilds import keeper
from catalog.runtime.services import ServicesRuntime
from catalog.settings import Settings
from tandem.db.postgres import create_pool
from tandem.migrations import migrate
from tests.support.services import REDIS_URL, PostgresDatabase, redis_prefix
from tests.support.services_readmodels import delete_prefix

pytestmark = pytest.mark.services

BUMPED = ("product_search", "category_stats")


@pytest.fixture
async def settings(
    pg_database: PostgresDatabase, pg_read_database: PostgresDatabase, tmp_path: Path
) -> AsyncIterator[Settings]:
    pool = await create_pool(pg_database.url, min_size=1, max_size=1)
    async with pool.acquire() as conn:
        await migrate(conn, MIGRATIONS)
    await pool.close()
    prefix = redis_prefix()
    yield Settings.from_env(
        {
            "TANDEM_DATA_DIR": str(tmp_path),
            "TANDEM_DATABASE_URL": pg_database.url,
            "TANDEM_READ_DATABASE_URL": pg_read_database.url,
            "TANDEM_REDIS_URL": REDIS_URL,
            "TANDEM_REDIS_PREFIX": prefix,
        }
    )
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    await delete_prefix(client, prefix)
    await client.aclose()


def _bump(catalog: ServicesRuntime) -> dict[str, int]:
    """This catalog's code declares the next version of the bumped projections; returns
    the versions they had."""
    specs, old = [], {}
    for spec in catalog.specs:
        if spec.name in BUMPED:
            old[spec.name] = spec.projection.version
            newer = type(
                f"{spec.projection.__name__}Next",
                (spec.projection,),
                {"version": spec.projection.version + 1},
            )
            spec = dataclasses.replace(spec, projection=newer)
        specs.append(spec)
    catalog.specs = specs
    return old


async def _search(catalog: ServicesRuntime, min_version: int = 0, timeout: float = 2) -> Any:
    query = SearchProducts(q="lamp")
    return (await catalog.query_bus.ask(query, min_version=min_version, timeout=timeout)).value


async def _row(catalog: ServicesRuntime, name: str) -> dict[str, Any]:
    await catalog.remote.refresh()
    return next(r for r in catalog.status() if r["name"] == name)


async def test_a_new_version_serves_the_old_copy_until_its_rebuild_switches(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keeper, "DROP_GRACE", 0.5)
    first = build_services(settings, roles=(Role.API, Role.WORKER))
    await first.start()
    try:
        category = (await first.command_bus.dispatch(CreateCategory(name="Lights"))).id
        products = []
        for i in range(5):
            created = await first.command_bus.dispatch(
                CreateProduct(
                    sku=f"L-{i}", name=f"Lamp {i}", category_id=category, price=Decimal(10)
                )
            )
            products.append(created.id)
        before = await _search(first, created.version, timeout=20)
        assert before["total"] == 5, before
    finally:
        await first.stop()
        await first.aclose()

    second = build_services(settings, roles=(Role.API, Role.WORKER))
    old = _bump(second)
    await second.start()
    try:
        for name in BUMPED:
            row = await _row(second, name)
            assert row["version"] == old[name], row  # the old copy serves
        # Served as it was while the new version is built: the old data answers.
        assert (await _search(second))["total"] == 5
        changed = await second.command_bus.dispatch(
            ChangePrice(product_id=products[0], price=Decimal("12.50"))
        )
        # The new version takes over once caught up; a read at the new write then answers.
        found = await _search(second, changed.version, timeout=30)
        assert found["total"] == 5
        prices = {item["id"]: item["price"] for item in found["items"]}
        assert prices[products[0]] == "12.50"
        for name in BUMPED:
            for _ in range(100):
                row = await _row(second, name)
                if row["version"] == old[name] + 1:
                    break
                await asyncio.sleep(0.1)
            assert row["version"] == old[name] + 1, row
            assert row["rebuild"]["state"] == "switched"
            assert row["rebuild"]["target"] == f"{name}_g2"
        # The old copies' storage goes after the grace.
        old_prefix = f"product_search_v{old['product_search']}_"
        for _ in range(100):
            left = await second.read_pool.fetchval(
                "SELECT count(*) FROM pg_tables WHERE starts_with(tablename, $1)", old_prefix
            )
            keys = [
                k
                async for k in second.redis.scan_iter(
                    match=f"{settings.redis_prefix}:category_stats:v{old['category_stats']}:*"
                )
            ]
            if left == 0 and not keys:
                break
            await asyncio.sleep(0.1)
        assert left == 0 and keys == []
    finally:
        await second.stop()
        await second.aclose()
