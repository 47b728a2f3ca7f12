"""Rules of the sales-analytics queries that hold whatever store answers them.

Separation level 1 answers `SalesAnalytics` from the write tables, and levels 2 and 3
from DuckDB (embedded) or the read database (services); all must refuse the same inputs
with the same errors, and shape their rows alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import Any

from catalog.domain.errors import InvalidInput
from catalog.read_models.money import two_decimals
from catalog.read_models.queries import SalesAnalytics
from catalog.read_models.shapes import SalesRow

# What sales can be grouped by, in the order an error lists them.
GROUPINGS = ("day", "category", "product")

ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_date(field: str, value: str | None) -> date | None:
    """The calendar date `value` names (None when absent); `InvalidInput` on `field`
    for anything but a valid YYYY-MM-DD."""
    if value is None:
        return None
    # date.fromisoformat also takes "20240102" and week dates; the API promises one form.
    if not isinstance(value, str) or not ISO_DATE.fullmatch(value):
        raise InvalidInput(field, "must be a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(field, "is not a valid calendar date") from exc


def sales_window(query: SalesAnalytics) -> tuple[date | None, date | None]:
    """The first and last day `query` asks for (None: open), once its grouping and
    dates are known to be valid; `InvalidInput` otherwise."""
    if query.group_by not in GROUPINGS:
        raise InvalidInput("group_by", f"must be one of {', '.join(GROUPINGS)}")
    start = parse_date("start", query.start)
    end = parse_date("end", query.end)
    if start is not None and end is not None and start > end:
        raise InvalidInput("end", "must not be before start")
    return start, end


def sales_rows(rows: Iterable[Iterable[Any]]) -> list[SalesRow]:
    """Rows of (key, name, orders, units, revenue) as the API shows them."""
    return [
        {
            "key": key,
            "name": name,
            "orders": int(orders),
            "units": int(units),
            "revenue": two_decimals(revenue),
        }
        for key, name, orders, units, revenue in rows
    ]
