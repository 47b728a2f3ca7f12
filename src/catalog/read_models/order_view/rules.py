"""What the order view means, whatever store keeps it.

An order's lines and prices never change after checkout, so every store keeps the
display-ready lines as placed and moves only the status; this module says which events
that takes, how a placed line and the order read, and how the time is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from catalog.read_models.money import two_decimals
from catalog.read_models.shapes import Order, OrderContact, OrderLine, OrderStatus

EVENT_TYPES = frozenset({"OrderPlaced", "OrderCancelled"})

PLACED = "placed"
CANCELLED = "cancelled"


def display_line(line: Mapping[str, Any]) -> OrderLine:
    """An `OrderPlaced` line as the order document shows it, prices with two decimals."""
    return {
        "product_id": line["product_id"],
        "sku": line["sku"],
        "name": line["name"],
        "quantity": line["quantity"],
        "unit_price": two_decimals(line["unit_price"]),
        "line_total": two_decimals(line["line_total"]),
    }


def stored_contact(data: Mapping[str, Any]) -> str | None:
    """An `OrderPlaced`'s contact as the stores keep it: JSON text, or None."""
    if data.get("contact_name") is None:
        return None
    contact = {"name": data["contact_name"], "email": data["contact_email"]}
    return orjson.dumps(contact).decode()


def contact_of(stored: str | bytes | None) -> OrderContact | None:
    """The contact of a stored order (None, or empty, when its checkout gave none)."""
    if not stored:
        return None
    data = orjson.loads(stored)
    return {"name": data["name"], "email": data["email"]}


def iso_utc(timestamp: float) -> str:
    """ISO 8601 in UTC with millisecond precision, e.g. 2025-01-31T09:30:00.125Z."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def order_document(
    order_id: str,
    customer: str,
    status: OrderStatus,
    lines: list[OrderLine],
    total: str,
    currency: str,
    placed_at: float,
    contact: OrderContact | None,
) -> Order:
    """The order as its customer reads it, from display lines and a two-decimal total."""
    return {
        "id": order_id,
        "customer": customer,
        "status": status,
        "lines": lines,
        "total": total,
        "currency": currency,
        "placed_at": iso_utc(placed_at),
        "contact": contact,
    }
