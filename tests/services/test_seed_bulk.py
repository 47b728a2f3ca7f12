"""`catalog.seed_bulk.bulk_load` leaves the write tables and the event log as `load` does."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from catalog import seed, seed_bulk
from catalog.bootstrap import build_services
from catalog.runtime.services import ServicesRuntime
from catalog.settings import Settings
from tests.support.services import REDIS_URL, create_database, drop_database, redis_prefix

pytestmark = [pytest.mark.services, pytest.mark.timeout(300)]

TABLES = {
    "categories": "SELECT id, name, parent_id, version FROM categories ORDER BY id",
    "products": "SELECT id, sku, name, category_id, price, price_cents, attributes::text,"
    " stock, status, version FROM products ORDER BY id",
    "cart_lines": "SELECT cart_id, product_id, quantity FROM cart_lines ORDER BY 1, 2",
    "orders": "SELECT id, cart_id, customer, status, total, lines::text, version FROM orders"
    " ORDER BY id",
}


@asynccontextmanager
async def services_catalog(tmp: Path) -> AsyncIterator[tuple[ServicesRuntime, str]]:
    write, read = await create_database("tandem_t_seed"), await create_database("tandem_t_seedr")
    env = {
        "TANDEM_DATA_DIR": str(tmp),
        "TANDEM_DATABASE_URL": write.url,
        "TANDEM_READ_DATABASE_URL": read.url,
        "TANDEM_REDIS_URL": REDIS_URL,
        "TANDEM_REDIS_PREFIX": redis_prefix(),
    }
    try:
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "catalog", "migrate"],
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )
        catalog = build_services(Settings.from_env(env))
        await catalog.start(projections=False)
        try:
            yield catalog, write.url
        finally:
            await catalog.stop()
            catalog.close()
            await catalog.aclose()
    finally:
        await drop_database(write)
        await drop_database(read)


def _timeless(data: str) -> dict[str, Any]:
    """An event's data without its clock readings (orders record when they were placed)."""
    return {k: v for k, v in orjson.loads(data).items() if not k.endswith("_at")}


async def _contents(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        found: dict[str, Any] = {
            name: [tuple(r) for r in await conn.fetch(sql)] for name, sql in TABLES.items()
        }
        # Each aggregate's events in log order, and every command's events together.
        rows = await conn.fetch(
            "SELECT type, aggregate_id, aggregate_version, data::text, correlation_id"
            " FROM tandem_events ORDER BY position"
        )
        found["events"] = sorted((r[1], r[2], r[0], _timeless(r[3])) for r in rows)
        by_aggregate: dict[str, list[int]] = {}
        for r in rows:
            by_aggregate.setdefault(r[1], []).append(r[2])
        found["versions_ascend"] = all(v == sorted(v) for v in by_aggregate.values())
        commands: dict[str, set[str]] = {}
        for r in rows:
            commands.setdefault(r[4], set()).add(r[0])
        found["commands"] = sorted(tuple(sorted(types)) for types in commands.values())
        return found
    finally:
        await conn.close()


async def test_bulk_load_writes_what_load_writes(tmp_path: Path) -> None:
    planned = seed.plan(400, seed=5)
    async with services_catalog(tmp_path / "one") as (catalog, url):
        one_by_one = await seed.load(catalog, planned)
        expected = await _contents(url)
    async with services_catalog(tmp_path / "bulk") as (catalog, url):
        bulk = await seed_bulk.bulk_load(
            catalog.pool, catalog.registry, planned, commands_per_transaction=1, concurrency=3
        )
        got = await _contents(url)
        with pytest.raises(ValueError, match="empty event log"):
            catalog.head.advance(max(catalog.head.value, 1))
            await seed_bulk.bulk_load(catalog.pool, catalog.registry, planned)
    assert got["versions_ascend"] and expected["versions_ascend"]
    for name in (*TABLES, "events", "commands"):
        assert got[name] == expected[name], name
    assert (bulk.products, bulk.orders, bulk.commands) == (
        one_by_one.products,
        one_by_one.orders,
        one_by_one.commands,
    )
