"""Sales analytics: a columnar fact table of order lines, for orders, units and revenue.

Every placed order adds one row per line, with the day (UTC) it was placed, the category
and product it sold and the revenue it earned at the checkout price. A cancellation does
not rewrite the fact table: it records the order in `sales_cancelled_orders`, and the
`sales_facts` view leaves that order out. An append is one buffered row, where a DELETE
would scan the whole column of order ids for every cancelled order.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from tandem.messages import StoredEvent
from tandem.projections.base import Projection
from tandem.stores.duckdb import DuckDBTransaction

LINES = "sales_lines"
CANCELLED = "sales_cancelled_orders"

SCHEMA = (
    f"""
    CREATE TABLE IF NOT EXISTS {LINES} (
        order_id TEXT NOT NULL,
        day DATE NOT NULL,
        category_id TEXT NOT NULL,
        product_id TEXT NOT NULL,
        product_name TEXT NOT NULL,
        units INTEGER NOT NULL,
        revenue DECIMAL(18, 2) NOT NULL,
        position BIGINT NOT NULL
    )
    """,
    f"""
    CREATE TABLE IF NOT EXISTS {CANCELLED} (
        order_id TEXT NOT NULL,
        position BIGINT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS sales_categories (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL
    )
    """,
    # Replaced on every start so a changed definition reaches existing files.
    f"""
    CREATE OR REPLACE VIEW sales_facts AS
    SELECT l.* FROM {LINES} l ANTI JOIN {CANCELLED} c ON c.order_id = l.order_id
    """,
)


def _day(placed_at: float) -> date:
    return datetime.fromtimestamp(placed_at, UTC).date()


class SalesAnalyticsProjection(Projection[DuckDBTransaction]):
    """Order lines per day, category and product; cancelled orders drop out."""

    name = "sales_analytics"
    version = 1
    event_types = frozenset({"CategoryCreated", "CategoryRenamed", "OrderPlaced", "OrderCancelled"})

    def setup(self, tx: DuckDBTransaction) -> None:
        for statement in SCHEMA:
            tx.execute(statement)

    def apply(self, tx: DuckDBTransaction, event: StoredEvent) -> None:
        data = event.data
        if event.type == "OrderPlaced":
            day = _day(data["placed_at"])
            for line in data["lines"]:
                tx.append(
                    LINES,
                    (
                        event.aggregate_id,
                        day,
                        line["category_id"],
                        line["product_id"],
                        line["name"],
                        line["quantity"],
                        line["line_total"],
                        event.position,
                    ),
                )
        elif event.type == "OrderCancelled":
            tx.append(CANCELLED, (event.aggregate_id, event.position))
        elif event.type in ("CategoryCreated", "CategoryRenamed"):
            tx.execute(
                "INSERT INTO sales_categories (id, name) VALUES (?, ?)"
                " ON CONFLICT (id) DO UPDATE SET name = excluded.name",
                (event.aggregate_id, data["name"]),
            )
