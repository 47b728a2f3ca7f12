"""`SalesAnalytics` answered from the DuckDB sales-analytics read model."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from catalog.read_models.queries import SalesAnalytics
from catalog.read_models.sales_analytics.duckdb import SalesAnalyticsProjection
from catalog.read_models.sales_analytics.rules import sales_rows, sales_window
from catalog.read_models.shapes import SalesReport, SalesRow
from tandem.bus import QueryBus

if TYPE_CHECKING:
    import duckdb

    from tandem.stores.duckdb import DuckDBProjectionStore

# group_by picks one of these fixed statements, one per `rules.GROUPINGS`; nothing from
# the query is ever spliced into SQL. `{where}` is built from constant fragments only.
SALES_SQL = {
    "day": """
        SELECT strftime(day, '%Y-%m-%d') AS key, strftime(day, '%Y-%m-%d') AS name,
               COUNT(DISTINCT order_id), SUM(units), SUM(revenue)
        FROM sales_facts {where}
        GROUP BY day
        ORDER BY day
    """,
    "category": """
        SELECT f.category_id, COALESCE(ANY_VALUE(c.name), ''),
               COUNT(DISTINCT f.order_id), SUM(f.units), SUM(f.revenue)
        FROM sales_facts f LEFT JOIN sales_categories c ON c.id = f.category_id {where}
        GROUP BY f.category_id
        ORDER BY SUM(f.revenue) DESC, f.category_id
    """,
    "product": """
        SELECT product_id, ARG_MAX(product_name, position),
               COUNT(DISTINCT order_id), SUM(units), SUM(revenue)
        FROM sales_facts {where}
        GROUP BY product_id
        ORDER BY SUM(revenue) DESC, product_id
    """,
}


def sales(
    cur: duckdb.DuckDBPyConnection, group_by: str, start: date | None, end: date | None
) -> list[SalesRow]:
    """Rows of orders, units and revenue per `group_by` key, cancelled orders left out."""
    conditions: list[str] = []
    params: list[date] = []
    if start is not None:
        conditions.append("day >= ?")
        params.append(start)
    if end is not None:
        conditions.append("day <= ?")
        params.append(end)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    return sales_rows(cur.execute(SALES_SQL[group_by].format(where=where), params).fetchall())


class SalesAnalyticsReads:
    """Sales per day, category or product from the `sales_analytics` read model."""

    def __init__(self, store: DuckDBProjectionStore) -> None:
        self._store = store

    async def sales_analytics(self, query: SalesAnalytics) -> SalesReport:
        start, end = sales_window(query)
        group_by = query.group_by
        rows = await self._store.run(lambda c: sales(c, group_by, start, end))
        return {"group_by": group_by, "rows": rows}

    def register(self, bus: QueryBus) -> None:
        bus.register(SalesAnalytics, self.sales_analytics, read_model=SalesAnalyticsProjection.name)
