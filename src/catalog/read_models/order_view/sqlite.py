"""Order view: one display-ready order per id, lines and prices as captured at checkout.

Order lines never change after checkout, so they are stored as one JSON document per
order; only the status moves.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

import orjson

from catalog.read_models.money import two_decimals
from tandem.messages import StoredEvent
from tandem.projections.base import Projection

SCHEMA = """
CREATE TABLE IF NOT EXISTS ov_orders (
    id TEXT PRIMARY KEY,
    customer TEXT NOT NULL,
    status TEXT NOT NULL,
    total TEXT NOT NULL,
    currency TEXT NOT NULL,
    placed_at REAL NOT NULL,
    lines TEXT NOT NULL
)
"""

PLACED = "placed"
CANCELLED = "cancelled"


def _line(line: dict[str, Any]) -> dict[str, Any]:
    return {
        "product_id": line["product_id"],
        "sku": line["sku"],
        "name": line["name"],
        "quantity": line["quantity"],
        "unit_price": two_decimals(line["unit_price"]),
        "line_total": two_decimals(line["line_total"]),
    }


def iso_utc(timestamp: float) -> str:
    """ISO 8601 in UTC with millisecond precision, e.g. 2025-01-31T09:30:00.125Z."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class OrderViewProjection(Projection[sqlite3.Connection]):
    """Orders as their customer sees them, with the status kept current."""

    name = "order_view"
    version = 1
    event_types = frozenset({"OrderPlaced", "OrderCancelled"})

    def setup(self, tx: sqlite3.Connection) -> None:
        tx.execute(SCHEMA)

    def apply(self, tx: sqlite3.Connection, event: StoredEvent) -> None:
        data = event.data
        if event.type == "OrderPlaced":
            tx.execute(
                "INSERT OR REPLACE INTO ov_orders"
                " (id, customer, status, total, currency, placed_at, lines)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    event.aggregate_id,
                    data["customer"],
                    PLACED,
                    two_decimals(data["total"]),
                    data["currency"],
                    data["placed_at"],
                    orjson.dumps([_line(line) for line in data["lines"]]),
                ),
            )
        elif event.type == "OrderCancelled":
            tx.execute(
                "UPDATE ov_orders SET status = ? WHERE id = ?", (CANCELLED, event.aggregate_id)
            )


def fetch(conn: sqlite3.Connection, order_id: str) -> dict[str, Any] | None:
    """The display-ready order, or None."""
    row = conn.execute(
        "SELECT customer, status, total, currency, placed_at, lines FROM ov_orders WHERE id = ?",
        (order_id,),
    ).fetchone()
    if row is None:
        return None
    customer, status, total, currency, placed_at, lines = tuple(row)
    return {
        "id": order_id,
        "customer": customer,
        "status": status,
        "lines": orjson.loads(lines),
        "total": total,
        "currency": currency,
        "placed_at": iso_utc(placed_at),
    }
