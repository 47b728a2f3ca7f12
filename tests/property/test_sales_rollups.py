"""For random order histories cut into random batches, the services profile's sales
rollups (PostgreSQL) answer every grouping and window exactly as the embedded profile's
fact table (DuckDB) does: orders placed, cancelled in the same batch or a later one,
products sold under changing names, renamed categories."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.read_models.queries import SalesAnalytics
from catalog.read_models.sales_analytics.duckdb import SalesAnalyticsProjection
from catalog.read_models.sales_analytics.duckdb_reads import SalesAnalyticsReads
from catalog.read_models.sales_analytics.postgres import PostgresSalesAnalyticsProjection
from catalog.read_models.sales_analytics.postgres_reads import PostgresSalesAnalyticsReads
from tandem.db.postgres import create_pool
from tandem.messages import StoredEvent
from tandem.stores.duckdb import DuckDBProjectionStore
from tandem.stores.postgres import PostgresProjectionStore
from tests.support.services import PostgresDatabase

pytestmark = pytest.mark.services

CATEGORIES = ("c0", "c1", "c2")
PRODUCTS = {"p0": "c0", "p1": "c0", "p2": "c1", "p3": "c2"}
NAMES = ("Lamp", "Lamp v2", "Tent")
# Each example folds into tables of its own, named after its number.
EXAMPLES = itertools.count()
WINDOWS = ((None, None), ("2024-03-02", None), (None, "2024-03-02"), ("2024-03-02", "2024-03-03"))

line = st.tuples(st.sampled_from(sorted(PRODUCTS)), st.sampled_from(NAMES), st.integers(1, 3))
step = st.one_of(
    st.tuples(
        st.just("order"),
        st.integers(1, 4),
        st.lists(line, min_size=1, max_size=3, unique_by=lambda x: x[0]),
    ),
    st.tuples(st.just("cancel"), st.integers(0, 30)),
    st.tuples(st.just("rename"), st.sampled_from(CATEGORIES), st.sampled_from(["A", "B"])),
)


def _history(steps: list[tuple[Any, ...]]) -> list[StoredEvent]:
    """The events of `steps`: categories first, then orders and their cancellations (each
    order cancelled at most once, as the domain allows)."""
    positions = itertools.count(1)
    events: list[StoredEvent] = []

    def emit(kind: str, aggregate: str, data: dict[str, Any]) -> None:
        position = next(positions)
        events.append(StoredEvent(position, kind, 1, "x", aggregate, 1, 0.0, "c", "c", data))

    for category in CATEGORIES:
        emit("CategoryCreated", category, {"name": category.upper()})
    placed: list[str] = []
    cancelled: set[str] = set()
    for index, (kind, *args) in enumerate(steps):
        if kind == "order":
            day, lines = args
            at = datetime(2024, 3, day, 12, tzinfo=UTC).timestamp()
            order = f"o{index:03d}"
            data = [
                {
                    "product_id": product,
                    "category_id": PRODUCTS[product],
                    "name": name,
                    "quantity": quantity,
                    "line_total": str(Decimal("2.50") * quantity),
                }
                for product, name, quantity in lines
            ]
            emit("OrderPlaced", order, {"placed_at": at, "lines": data})
            placed.append(order)
        elif kind == "cancel":
            open_orders = [o for o in placed if o not in cancelled]
            if open_orders:
                order = open_orders[args[0] % len(open_orders)]
                cancelled.add(order)
                emit("OrderCancelled", order, {})
        else:
            emit("CategoryRenamed", args[0], {"name": args[1]})
    return events


async def _answers(reads: Any) -> list[Any]:
    return [
        await reads.sales_analytics(SalesAnalytics(group_by=group_by, start=start, end=end))
        for group_by in ("day", "category", "product")
        for start, end in WINDOWS
    ]


async def _compare(url: str, events: list[StoredEvent], cuts: list[int], n: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="tandem-sales-"))
    duck = DuckDBProjectionStore(folder / "sales.duckdb")
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        await duck.setup(SalesAnalyticsProjection())
        await duck.apply(SalesAnalyticsProjection(), events)
        expected = await _answers(SalesAnalyticsReads(duck))

        # A copy of its own for each example: tables named after it.
        stored: Any = type("Example", (PostgresSalesAnalyticsProjection,), {"name": f"sales_{n}"})
        store = PostgresProjectionStore(pool)
        projection = stored()
        await store.setup(projection)
        bounds = sorted({0, len(events), *(c % (len(events) + 1) for c in cuts)})
        for start, end in itertools.pairwise(bounds):
            await store.apply(projection, events[start:end])
        assert await _answers(PostgresSalesAnalyticsReads(pool, stored)) == expected
    finally:
        await pool.close()
        duck.close()
        shutil.rmtree(folder, ignore_errors=True)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(step, min_size=1, max_size=30),
    cuts=st.lists(st.integers(0, 200), max_size=6),
)
def test_rollups_answer_as_the_fact_table_whatever_the_batches(
    pg_read_database: PostgresDatabase, steps: list[tuple[Any, ...]], cuts: list[int]
) -> None:
    example = next(EXAMPLES)
    asyncio.run(_compare(pg_read_database.url, _history(steps), cuts, example))
