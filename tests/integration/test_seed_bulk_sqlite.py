"""`catalog.seed_bulk.bulk_load_sqlite` leaves the embedded write database as `load` does,
and a catalog started on it serves what it would after `load`."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson
import pytest

from catalog import seed, seed_bulk
from catalog.bootstrap import build_embedded
from catalog.read_models.queries import GetCategoryStats, SearchProducts
from catalog.runtime.embedded import EmbeddedRuntime
from catalog.settings import Settings

TABLES = {
    "categories": "SELECT id, name, parent_id, version FROM categories ORDER BY id",
    "products": "SELECT id, sku, name, category_id, price, price_cents, attributes, stock,"
    " status, version FROM products ORDER BY id",
    "cart_lines": "SELECT cart_id, product_id, quantity FROM cart_lines ORDER BY 1, 2",
    "orders": "SELECT id, cart_id, customer, status, total, version FROM orders ORDER BY id",
}


def _timeless(data: bytes | str) -> dict[str, Any]:
    """An event's data without its clock readings (orders record when they were placed)."""
    return {k: v for k, v in orjson.loads(data).items() if not k.endswith("_at")}


def _contents(path: Path) -> dict[str, Any]:
    with closing(sqlite3.connect(path)) as conn:
        found: dict[str, Any] = {name: conn.execute(sql).fetchall() for name, sql in TABLES.items()}
        rows = conn.execute(
            "SELECT type, aggregate_id, aggregate_version, data, correlation_id"
            " FROM tandem_events ORDER BY position"
        ).fetchall()
    found["events"] = sorted((r[1], r[2], r[0], _timeless(r[3])) for r in rows)
    # Positions ascend with each aggregate's versions, and a command's events share its id.
    by_aggregate: dict[str, list[int]] = {}
    commands: dict[str, set[str]] = {}
    for r in rows:
        by_aggregate.setdefault(r[1], []).append(r[2])
        commands.setdefault(r[4], set()).add(r[0])
    found["versions_ascend"] = all(v == sorted(v) for v in by_aggregate.values())
    found["commands"] = sorted(tuple(sorted(types)) for types in commands.values())
    return found


async def _answers(catalog: EmbeddedRuntime, plan: seed.SeedPlan) -> list[Any]:
    await catalog.wait_until_caught_up(timeout=60)
    answers = [(await catalog.query_bus.ask(SearchProducts(limit=50))).value]
    for category in plan.categories[:3]:
        stats = await catalog.query_bus.ask(GetCategoryStats(category_id=category.id or ""))
        answers.append(stats.value)
    return answers


# One command per transaction puts every batch boundary between two commands on the same
# cart (an item added, then the checkout): a batch must save the cart as its own commands
# left it, not as the next batch's command did.
@pytest.mark.parametrize(("level", "per_transaction"), [(2, 40), (3, 1)])
async def test_bulk_load_sqlite_writes_what_load_writes(
    tmp_path: Path, level: int, per_transaction: int
) -> None:
    planned = seed.plan(300, seed=5)
    one = build_embedded(
        Settings.from_env({"TANDEM_DATA_DIR": str(tmp_path / "one"), "TANDEM_LEVEL": str(level)})
    )
    await one.start()
    try:
        loaded = await seed.load(one, planned)
        expected_answers = await _answers(one, planned)
    finally:
        await one.stop()
        one.close()
        await one.aclose()

    settings = Settings.from_env(
        {"TANDEM_DATA_DIR": str(tmp_path / "bulk"), "TANDEM_LEVEL": str(level)}
    )
    bulk = build_embedded(settings)  # creates the schema
    bulk.close()
    await bulk.aclose()
    report = seed_bulk.bulk_load_sqlite(
        settings.write_database, bulk.registry, planned, commands_per_transaction=per_transaction
    )
    with pytest.raises(ValueError, match="empty event log"):
        seed_bulk.bulk_load_sqlite(settings.write_database, bulk.registry, planned)
    expected = _contents(tmp_path / "one" / settings.write_database.name)
    got = _contents(settings.write_database)
    assert got["versions_ascend"] and expected["versions_ascend"]
    for name in (*TABLES, "events", "commands"):
        assert got[name] == expected[name], name
    assert (report.products, report.orders, report.commands) == (
        loaded.products,
        loaded.orders,
        loaded.commands,
    )

    started = build_embedded(settings)
    await started.start()
    try:
        assert await _answers(started, planned) == expected_answers
    finally:
        await started.stop()
        started.close()
        await started.aclose()
