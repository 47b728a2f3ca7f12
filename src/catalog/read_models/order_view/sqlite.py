"""Order view: one display-ready order per id, lines and prices as captured at checkout.

Order lines never change after checkout, so they are stored as one JSON document per
order; only the status moves.
"""

from __future__ import annotations

import sqlite3

import orjson

from catalog.read_models.money import two_decimals
from catalog.read_models.order_view.rules import (
    CANCELLED,
    EVENT_TYPES,
    PLACED,
    contact_of,
    display_line,
    order_document,
    stored_contact,
)
from catalog.read_models.shapes import Order
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
    lines TEXT NOT NULL,
    contact TEXT
)
"""


class OrderViewProjection(Projection[sqlite3.Connection]):
    """Orders as their customer sees them, with the status kept current."""

    name = "order_view"
    version = 1
    event_types = EVENT_TYPES

    def setup(self, tx: sqlite3.Connection) -> None:
        tx.execute(SCHEMA)
        # A table from before orders had a contact: the orders it holds have none.
        if "contact" not in {row[1] for row in tx.execute("PRAGMA table_info(ov_orders)")}:
            tx.execute("ALTER TABLE ov_orders ADD COLUMN contact TEXT")

    def apply(self, tx: sqlite3.Connection, event: StoredEvent) -> None:
        data = event.data
        if event.type == "OrderPlaced":
            tx.execute(
                "INSERT OR REPLACE INTO ov_orders"
                " (id, customer, status, total, currency, placed_at, lines, contact)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event.aggregate_id,
                    data["customer"],
                    PLACED,
                    two_decimals(data["total"]),
                    data["currency"],
                    data["placed_at"],
                    orjson.dumps([display_line(line) for line in data["lines"]]),
                    stored_contact(data),
                ),
            )
        elif event.type == "OrderCancelled":
            tx.execute(
                "UPDATE ov_orders SET status = ? WHERE id = ?", (CANCELLED, event.aggregate_id)
            )


def fetch(conn: sqlite3.Connection, order_id: str) -> Order | None:
    """The display-ready order, or None."""
    row = conn.execute(
        "SELECT customer, status, total, currency, placed_at, lines, contact FROM ov_orders"
        " WHERE id = ?",
        (order_id,),
    ).fetchone()
    if row is None:
        return None
    customer, status, total, currency, placed_at, lines, contact = tuple(row)
    return order_document(
        order_id,
        customer,
        status,
        orjson.loads(lines),
        total,
        currency,
        placed_at,
        contact_of(contact),
    )
