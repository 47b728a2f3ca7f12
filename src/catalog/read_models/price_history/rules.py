"""What a price history is, whatever store keeps it: the points' shape and the time they
are kept at (plain UTC timestamps, without a zone, in DuckDB and PostgreSQL alike)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from catalog.read_models.money import two_decimals
from catalog.read_models.shapes import PricePoint


def utc(seconds: float) -> datetime:
    """Epoch seconds as the naive UTC datetime a TIMESTAMP column holds."""
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


def points(rows: Iterable[Any]) -> list[PricePoint]:
    """Rows of (at, price), a naive UTC datetime and a Decimal, as the API shows them:
    times in ISO 8601 with their zone."""
    return [
        {"at": at.replace(tzinfo=UTC).isoformat(), "price": two_decimals(price)}
        for at, price in rows
    ]
