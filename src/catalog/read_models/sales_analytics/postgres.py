"""Sales analytics on PostgreSQL: order lines and their daily rollups, in the read database.

On the services profile the workers fold this model once, and every API process
queries it (`postgres_reads`); the embedded profile keeps its DuckDB fact table
(`catalog.read_models.sales_analytics.duckdb`). The same events give the same answers
on both (the read-model contract runs both):

- `lines`: one row per order line (its day, category, product, the name it was sold
  under, units, revenue, position) and whether its order was cancelled. A cancellation
  marks its order's lines and takes exactly them back from the rollups.
- Rollups per day, per (day, category) and per (day, product): orders, units and
  revenue of the orders not cancelled. An order counts once in each row it touches,
  and has one day, so a sum of a row's orders over days counts distinct orders. A
  query reads rollup rows only: a few per day sold, whatever the number of orders.
- A product's rollup row also keeps the name of its newest line of the day (by
  position), recomputed from `lines` when a cancellation takes that line back.
- `categories`: the current names, as the category grouping shows them.

A batch is folded in a handful of statements, whatever its size (`postgres_batch`).
Every table name starts with `sales_analytics_v1_` (`table_prefix`), so a rebuild builds
its tables beside these. Ids use the "C" collation, so `ORDER BY id` is byte order, as
in DuckDB.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import astuple, dataclass
from typing import TYPE_CHECKING, Any

from catalog.read_models.sales_analytics.duckdb import SalesAnalyticsProjection
from catalog.read_models.sales_analytics.postgres_batch import Line, SalesBatch, Totals, totals
from tandem.messages import StoredEvent
from tandem.projections.base import AsyncProjection
from tandem.stores.postgres import table_prefix

if TYPE_CHECKING:
    from tandem.db.postgres import Connection

LINE_COLUMNS = (
    "order_id",
    "day",
    "category_id",
    "product_id",
    "name",
    "units",
    "revenue",
    "position",
    "cancelled",
)


@dataclass(frozen=True)
class SalesTables:
    """The names of one version's tables."""

    lines: str
    days: str
    categories_daily: str
    products_daily: str
    categories: str

    @classmethod
    def named(cls, prefix: str) -> SalesTables:
        return cls(
            f"{prefix}_lines",
            f"{prefix}_days",
            f"{prefix}_category_days",
            f"{prefix}_product_days",
            f"{prefix}_categories",
        )


def schema(t: SalesTables) -> tuple[str, ...]:
    """Statements that create the tables and indexes (each safe to run again)."""
    totals_columns = (
        "orders INTEGER NOT NULL, units BIGINT NOT NULL, revenue NUMERIC(38, 2) NOT NULL"
    )
    return (
        f"""
        CREATE TABLE IF NOT EXISTS {t.lines} (
            order_id TEXT COLLATE "C" NOT NULL,
            day DATE NOT NULL,
            category_id TEXT COLLATE "C" NOT NULL,
            product_id TEXT COLLATE "C" NOT NULL,
            name TEXT NOT NULL,
            units INTEGER NOT NULL,
            revenue NUMERIC(18, 2) NOT NULL,
            position BIGINT NOT NULL,
            cancelled BOOLEAN NOT NULL
        )
        """,
        f"CREATE INDEX IF NOT EXISTS {t.lines}_order ON {t.lines} (order_id)",
        # What a product's name on a day is recomputed from.
        f"CREATE INDEX IF NOT EXISTS {t.lines}_product ON {t.lines} (product_id, day, position)"
        " WHERE NOT cancelled",
        f"CREATE TABLE IF NOT EXISTS {t.days} (day DATE PRIMARY KEY, {totals_columns})",
        f"""
        CREATE TABLE IF NOT EXISTS {t.categories_daily} (
            day DATE NOT NULL,
            category_id TEXT COLLATE "C" NOT NULL,
            {totals_columns},
            PRIMARY KEY (day, category_id)
        )
        """,
        f"""
        CREATE TABLE IF NOT EXISTS {t.products_daily} (
            day DATE NOT NULL,
            product_id TEXT COLLATE "C" NOT NULL,
            name TEXT,
            name_position BIGINT,
            {totals_columns},
            PRIMARY KEY (day, product_id)
        )
        """,
        f"""
        CREATE TABLE IF NOT EXISTS {t.categories} (
            id TEXT COLLATE "C" PRIMARY KEY,
            name TEXT NOT NULL
        )
        """,
    )


def _deltas(
    added: Iterable[Line], taken: Iterable[Line], key: Callable[[Line], Any]
) -> list[tuple[Any, Totals, int]]:
    """Per rollup row: what the batch adds (name included), and the orders it takes back."""
    plus = totals(added, key)
    minus = totals(taken, key)
    rows = []
    for row_key in plus.keys() | minus.keys():
        change = plus.get(row_key, Totals())
        back = minus.get(row_key)
        if back is not None:
            change.units -= back.units
            change.revenue -= back.revenue
        rows.append((row_key, change, len(back.orders) if back is not None else 0))
    return rows


def _columns(rows: list[tuple[Any, Totals, int]]) -> tuple[list[int], list[int], list[Any]]:
    """The orders, units and revenue of the rows, one list each."""
    return (
        [len(change.orders) - back for _, change, back in rows],
        [change.units for _, change, _ in rows],
        [change.revenue for _, change, _ in rows],
    )


_ADD_TOTALS = (
    "orders = t.orders + excluded.orders, units = t.units + excluded.units,"
    " revenue = t.revenue + excluded.revenue"
)


class PostgresSalesAnalyticsProjection(AsyncProjection["Connection"]):
    """Order lines and their rollups per day, category and product."""

    name = SalesAnalyticsProjection.name
    version = 1
    event_types = SalesAnalyticsProjection.event_types

    def __init__(self) -> None:
        self.tables = SalesTables.named(table_prefix(self))

    async def setup(self, tx: Connection) -> None:
        for statement in schema(self.tables):
            await tx.execute(statement)

    async def apply(self, tx: Connection, event: StoredEvent) -> None:
        await self.apply_batch(tx, [event])

    async def apply_batch(self, tx: Connection, events: list[StoredEvent]) -> None:
        batch = SalesBatch.fold(events)
        t = self.tables
        if batch.categories:
            await tx.execute(
                f"INSERT INTO {t.categories} AS t (id, name)"
                " SELECT * FROM unnest($1::text[], $2::text[])"
                " ON CONFLICT (id) DO UPDATE SET name = excluded.name",
                list(batch.categories),
                list(batch.categories.values()),
            )
        new_lines = batch.new_lines()
        if new_lines:
            await tx.copy_records_to_table(
                t.lines,
                records=[(*astuple(line), cancelled) for line, cancelled in new_lines],
                columns=LINE_COLUMNS,
            )
        taken = await self._cancel(tx, batch.cancelled_before)
        added = batch.counted()
        if added or taken:
            await self._roll_up(tx, added, taken)

    async def _cancel(self, tx: Connection, orders: list[str]) -> list[Line]:
        """Mark the lines of orders placed before the batch cancelled; returns those
        lines (none for an order cancelled already)."""
        if not orders:
            return []
        rows = await tx.fetch(
            f"UPDATE {self.tables.lines} SET cancelled = true"
            " WHERE order_id = ANY($1::text[]) AND NOT cancelled"
            f" RETURNING {', '.join(LINE_COLUMNS[:-1])}",
            orders,
        )
        return [Line(*row) for row in rows]

    async def _roll_up(self, tx: Connection, added: list[Line], taken: list[Line]) -> None:
        t = self.tables
        days = _deltas(added, taken, lambda line: line.day)
        await tx.execute(
            f"INSERT INTO {t.days} AS t (day, orders, units, revenue)"
            " SELECT * FROM unnest($1::date[], $2::int[], $3::bigint[], $4::numeric[])"
            f" ON CONFLICT (day) DO UPDATE SET {_ADD_TOTALS}",
            [key for key, _, _ in days],
            *_columns(days),
        )
        categories = _deltas(added, taken, lambda line: (line.day, line.category_id))
        await tx.execute(
            f"INSERT INTO {t.categories_daily} AS t (day, category_id, orders, units, revenue)"
            " SELECT * FROM unnest($1::date[], $2::text[], $3::int[], $4::bigint[],"
            " $5::numeric[])"
            f" ON CONFLICT (day, category_id) DO UPDATE SET {_ADD_TOTALS}",
            [key[0] for key, _, _ in categories],
            [key[1] for key, _, _ in categories],
            *_columns(categories),
        )
        products = _deltas(added, taken, lambda line: (line.day, line.product_id))
        await tx.execute(
            f"INSERT INTO {t.products_daily} AS t"
            " (day, product_id, name, name_position, orders, units, revenue)"
            " SELECT * FROM unnest($1::date[], $2::text[], $3::text[], $4::bigint[],"
            " $5::int[], $6::bigint[], $7::numeric[])"
            f" ON CONFLICT (day, product_id) DO UPDATE SET {_ADD_TOTALS},"
            " name = CASE WHEN excluded.name_position > coalesce(t.name_position, -1)"
            " THEN excluded.name ELSE t.name END,"
            " name_position = greatest(t.name_position, excluded.name_position)",
            [key[0] for key, _, _ in products],
            [key[1] for key, _, _ in products],
            [change.name for _, change, _ in products],
            [change.position if change.name is not None else None for _, change, _ in products],
            *_columns(products),
        )
        if taken:
            # The newest line left of each (day, product) a cancellation touched.
            touched = {(line.day, line.product_id) for line in taken}
            await tx.execute(
                f"UPDATE {t.products_daily} p SET (name, name_position) ="
                f" (SELECT l.name, l.position FROM {t.lines} l"
                "   WHERE l.product_id = p.product_id AND l.day = p.day AND NOT l.cancelled"
                "   ORDER BY l.position DESC LIMIT 1)"
                " FROM unnest($1::date[], $2::text[]) AS k(day, product_id)"
                " WHERE p.day = k.day AND p.product_id = k.product_id",
                [day for day, _ in touched],
                [product for _, product in touched],
            )
