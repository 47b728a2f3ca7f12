"""`SalesAnalytics` answered from the sales rollups in the PostgreSQL read database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from catalog.read_models.queries import SalesAnalytics
from catalog.read_models.sales_analytics.postgres import (
    PostgresSalesAnalyticsProjection,
    SalesTables,
)
from catalog.read_models.sales_analytics.rules import sales_rows, sales_window
from catalog.read_models.shapes import SalesReport
from tandem.bus import QueryBus
from tandem.stores.postgres import table_prefix, tables_ready

if TYPE_CHECKING:
    from tandem.db.postgres import Pool

# Rows a cancellation emptied stay, with no orders; a window is two optional bounds.
_KEPT = "orders > 0 AND ($1::date IS NULL OR day >= $1) AND ($2::date IS NULL OR day <= $2)"


def statements(t: SalesTables) -> dict[str, str]:
    """One fixed statement per grouping (`rules.GROUPINGS`), on one version's tables."""
    return {
        "day": f"""
            SELECT to_char(day, 'YYYY-MM-DD') AS key, to_char(day, 'YYYY-MM-DD'),
                   orders, units, revenue
            FROM {t.days} WHERE {_KEPT}
            ORDER BY day
        """,
        "category": f"""
            SELECT f.category_id, coalesce(min(c.name), ''),
                   sum(f.orders), sum(f.units), sum(f.revenue)
            FROM (SELECT * FROM {t.categories_daily} WHERE {_KEPT}) f
            LEFT JOIN {t.categories} c ON c.id = f.category_id
            GROUP BY f.category_id
            ORDER BY sum(f.revenue) DESC, f.category_id
        """,
        # A product is named as in its newest line sold (by position) in the window.
        "product": f"""
            SELECT product_id, (array_agg(name ORDER BY name_position DESC NULLS LAST))[1],
                   sum(orders), sum(units), sum(revenue)
            FROM {t.products_daily} WHERE {_KEPT}
            GROUP BY product_id
            ORDER BY sum(revenue) DESC, product_id
        """,
    }


class PostgresSalesAnalyticsReads:
    """Sales per day, category or product from one copy of the rollups."""

    def __init__(self, pool: Pool, stored: type[Any] = PostgresSalesAnalyticsProjection) -> None:
        self._pool = pool
        self._statements = statements(SalesTables.named(table_prefix(stored)))

    async def sales_analytics(self, query: SalesAnalytics) -> SalesReport:
        start, end = sales_window(query)
        with tables_ready(PostgresSalesAnalyticsProjection.name):
            rows = await self._pool.fetch(self._statements[query.group_by], start, end)
        return {"group_by": query.group_by, "rows": sales_rows(rows)}

    def register(self, bus: QueryBus) -> None:
        bus.register(
            SalesAnalytics, self.sales_analytics, read_model=PostgresSalesAnalyticsProjection.name
        )
