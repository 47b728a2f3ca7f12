"""Queries answered by the DuckDB read models: sales analytics and price history."""

from __future__ import annotations

import re
from datetime import UTC, date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from catalog.domain.errors import InvalidInput, NotFound
from catalog.read_models.price_history.duckdb import PriceHistoryProjection
from catalog.read_models.queries import PriceHistory, SalesAnalytics
from catalog.read_models.sales_analytics.duckdb import SalesAnalyticsProjection
from tandem.bus import QueryBus

if TYPE_CHECKING:
    import duckdb

    from tandem.stores.duckdb import DuckDBProjectionStore

ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

# group_by picks one of these fixed statements; nothing from the query is ever spliced
# into SQL. `{where}` is built from constant fragments only.
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


def _date(field: str, value: str | None) -> date | None:
    if value is None:
        return None
    # date.fromisoformat also takes "20240102" and week dates; the API promises one form.
    if not isinstance(value, str) or not ISO_DATE.fullmatch(value):
        raise InvalidInput(field, "must be a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(field, "is not a valid calendar date") from exc


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def sales(
    cur: duckdb.DuckDBPyConnection, group_by: str, start: date | None, end: date | None
) -> list[dict[str, Any]]:
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
    rows = cur.execute(SALES_SQL[group_by].format(where=where), params).fetchall()
    return [
        {
            "key": key,
            "name": name,
            "orders": int(orders),
            "units": int(units),
            "revenue": _money(revenue),
        }
        for key, name, orders, units, revenue in rows
    ]


def price_points(cur: duckdb.DuckDBPyConnection, product_id: str) -> list[dict[str, str]]:
    """The product's prices, oldest first, each with its UTC time in ISO 8601."""
    rows = cur.execute(
        'SELECT "at", price FROM price_history WHERE product_id = ? ORDER BY "at", position',
        (product_id,),
    ).fetchall()
    return [
        {"at": at.replace(tzinfo=UTC).isoformat(), "price": _money(price)} for at, price in rows
    ]


class SalesAnalyticsReads:
    """Sales per day, category or product from the `sales_analytics` read model."""

    def __init__(self, store: DuckDBProjectionStore) -> None:
        self._store = store

    async def sales_analytics(self, query: SalesAnalytics) -> dict[str, Any]:
        if query.group_by not in SALES_SQL:
            raise InvalidInput("group_by", f"must be one of {', '.join(SALES_SQL)}")
        start = _date("start", query.start)
        end = _date("end", query.end)
        if start is not None and end is not None and start > end:
            raise InvalidInput("end", "must not be before start")
        group_by = query.group_by
        rows = await self._store.run(lambda c: sales(c, group_by, start, end))
        return {"group_by": group_by, "rows": rows}

    def register(self, bus: QueryBus) -> None:
        bus.register(SalesAnalytics, self.sales_analytics, read_model=SalesAnalyticsProjection.name)


class PriceHistoryReads:
    """A product's prices over time from the `price_history` read model."""

    def __init__(self, store: DuckDBProjectionStore) -> None:
        self._store = store

    async def price_history(self, query: PriceHistory) -> dict[str, Any]:
        product_id = query.product_id
        points = await self._store.run(lambda c: price_points(c, product_id))
        if not points:
            raise NotFound("product", product_id)
        return {"product_id": product_id, "points": points}

    def register(self, bus: QueryBus) -> None:
        bus.register(PriceHistory, self.price_history, read_model=PriceHistoryProjection.name)
