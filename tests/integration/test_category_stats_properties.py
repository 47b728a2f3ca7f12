"""Category stats kept by deltas agree with a brute-force count of the write model."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.bootstrap import build_embedded
from catalog.domain import commands as c
from catalog.domain.errors import DomainError
from catalog.read_models.category_stats.sqlite import CategoryStatsProjection
from catalog.read_models.category_stats.sqlite_reads import CategoryStatsReads
from catalog.read_models.queries import GetCategoryStats
from catalog.settings import Settings
from tandem.stores.sqlite import SqliteProjectionStore

# name → parent name: two roots, three levels on one side.
TREE = {"A": None, "A1": "A", "A1x": "A1", "A2": "A", "B": None}
CATEGORIES = list(TREE)

prices = st.integers(0, 40).map(lambda n: Decimal(n * 25) / 100)  # repeats are likely
category = st.sampled_from(CATEGORIES)
pick = st.integers(0, 1000)  # which existing product, modulo how many there are

operations = st.lists(
    st.one_of(
        st.tuples(st.just("create"), category, prices, st.integers(0, 2)),
        st.tuples(st.just("price"), pick, prices),
        # Small deltas against small stocks keep crossing zero, where in_stock flips.
        st.tuples(st.just("stock"), pick, st.integers(-2, 2).filter(bool)),
        st.tuples(st.just("move"), pick, category),
        st.tuples(st.just("discontinue"), pick),
    ),
    min_size=8,
    max_size=40,
)


def _command(op: tuple[Any, ...], products: list[str], ids: dict[str, str]) -> Any:
    kind = op[0]
    if kind == "create":
        return c.CreateProduct(
            sku=f"SKU-{len(products)}",
            name=f"P{len(products)}",
            category_id=ids[op[1]],
            price=op[2],
            initial_stock=op[3],
        )
    product = products[op[1] % len(products)]
    if kind == "price":
        return c.ChangePrice(product_id=product, price=op[2])
    if kind == "stock":
        return c.AdjustStock(product_id=product, delta=op[2], reason="count")
    if kind == "move":
        return c.UpdateProductDetails(product_id=product, category_id=ids[op[2]])
    return c.DiscontinueProduct(product_id=product)


def _money(cents: int) -> str:
    return str((Decimal(cents) / 100).quantize(Decimal("0.01")))


def brute_force(write_database: Path, category_id: str) -> dict[str, Any]:
    conn = sqlite3.connect(write_database)
    try:
        parents = dict(conn.execute("SELECT id, parent_id FROM categories").fetchall())
        names = dict(conn.execute("SELECT id, name FROM categories").fetchall())
        rows = conn.execute(
            "SELECT category_id, price_cents, stock FROM products WHERE status = 'active'"
        ).fetchall()
    finally:
        conn.close()

    def within(cid: str | None) -> bool:
        while cid is not None:
            if cid == category_id:
                return True
            cid = parents[cid]
        return False

    mine = [(price, stock) for cid, price, stock in rows if within(cid)]
    cents = [price for price, _ in mine]
    average = None
    if mine:
        average = int((Decimal(sum(cents)) / len(cents)).to_integral_value(ROUND_HALF_UP))
    return {
        "category_id": category_id,
        "name": names[category_id],
        "product_count": len(mine),
        "in_stock_count": sum(1 for _, stock in mine if stock > 0),
        "min_price": _money(min(cents)) if mine else None,
        "max_price": _money(max(cents)) if mine else None,
        "avg_price": _money(average) if average is not None else None,
        "total_stock": sum(stock for _, stock in mine),
    }


async def _scenario(root: Path, ops: list[tuple[Any, ...]], chunk: int) -> None:
    cat = build_embedded(Settings(data_dir=root / "data"))
    store = SqliteProjectionStore(root / "stats.db")
    await cat.start()
    try:
        ids: dict[str, str] = {}
        for name, parent in TREE.items():
            created = await cat.command_bus.dispatch(
                c.CreateCategory(name=name, parent_id=ids[parent] if parent else None)
            )
            ids[name] = created.id
        products: list[str] = []
        for op in ops:
            if op[0] != "create" and not products:
                continue
            try:
                result = await cat.command_bus.dispatch(_command(op, products, ids))
            except DomainError:
                continue  # refused by a business rule: nothing changed, nothing to project
            if op[0] == "create":
                products.append(result.id)

        projection = CategoryStatsProjection()
        await store.setup(projection)
        events = await cat.log_reader.read_after(0, 100_000)
        for start in range(0, len(events), chunk):
            await store.apply(projection, events[start : start + chunk])
        await store.apply(projection, events)  # a full redelivery must change nothing

        reads = CategoryStatsReads(store.reader)
        for category_id in ids.values():
            got = await reads.get_category_stats(GetCategoryStats(category_id=category_id))
            assert got == brute_force(cat.settings.write_database, category_id)
    finally:
        await cat.stop()
        cat.close()
        store.close()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations, chunk=st.integers(1, 12))
def test_incremental_stats_match_a_brute_force_count(
    ops: list[tuple[Any, ...]], chunk: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_scenario(Path(tmp), ops, chunk))
