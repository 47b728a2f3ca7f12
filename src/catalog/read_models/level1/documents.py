"""The documents level-1 queries answer, built from write-table rows.

Each has the shape (and key order) its read model's query answers at levels 2 and 3;
rows are anything indexable by column name (`sqlite3.Row`, `asyncpg.Record`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from catalog.read_models.cart_view.rules import cart_document
from catalog.read_models.category_stats.rules import stats_document, tree_document
from catalog.read_models.money import from_cents, two_decimals
from catalog.read_models.order_view.rules import contact_of, display_line, order_document
from catalog.read_models.product_detail.rules import category_block, product_document
from catalog.read_models.shapes import (
    Cart,
    CategoryNode,
    CategoryStats,
    Order,
    PricePoint,
    ProductDocument,
    SalesRow,
)
from tandem.upcasting import UPCASTERS

Row = Any


def category_paths(rows: Iterable[Row]) -> dict[str, list[str]]:
    """Category id → names from the root down, from `(start, name)` rows ordered by
    start, then root first."""
    paths: dict[str, list[str]] = {}
    for row in rows:
        paths.setdefault(row["start"], []).append(row["name"])
    return paths


def product(row: Row, paths: dict[str, list[str]]) -> ProductDocument:
    """The product-detail document of one `products` row."""
    category_id = row["category_id"]
    path = paths.get(category_id, [])
    return product_document(
        row["id"],
        row["sku"],
        row["name"],
        row["description"],
        category_block(category_id, path[-1] if path else "", path),
        row["price"],
        row["currency"],
        row["stock"],
        row["status"],
        orjson.loads(row["attributes"]),
        row["version"],
    )


def stats(category_id: str, name: str, row: Row) -> CategoryStats:
    """Category stats from one aggregate row over the category's subtree."""
    count = int(row["product_count"])
    # Sum, min and max are NULL over an empty subtree.
    return stats_document(
        category_id,
        name,
        count,
        int(row["in_stock_count"] or 0),
        int(row["total_stock"] or 0),
        int(row["price_sum"]) if count > 0 else 0,
        int(row["low"]) if count > 0 else None,
        int(row["high"]) if count > 0 else None,
    )


def tree(rows: Iterable[Row]) -> list[CategoryNode]:
    """Categories as a tree sorted by (name, id) at every level, each with the number
    of active products in its subtree."""
    return tree_document(
        (row["id"], row["name"], row["slug"], row["parent_id"], int(row["product_count"]))
        for row in rows
    )


def cart(cart_id: str, owner: str, rows: Sequence[Row]) -> Cart:
    """A cart priced at its products' current prices, lines sorted by name."""
    return cart_document(
        cart_id,
        owner,
        (
            (
                row["product_id"],
                row["name"],
                int(row["price_cents"] or 0),
                row["currency"],
                int(row["quantity"]),
            )
            for row in rows
        ),
    )


def order(row: Row) -> Order:
    """An order with its lines as captured at checkout."""
    return order_document(
        row["id"],
        row["customer"],
        row["status"],
        [display_line(line) for line in orjson.loads(row["lines"])],
        two_decimals(row["total"]),
        row["currency"],
        float(row["placed_at"]),
        contact_of(row["contact"]),
    )


def sales_row(row: Row) -> SalesRow:
    """One row of sales analytics; revenue arrives in cents."""
    return {
        "key": row["key"],
        "name": row["name"] or "",
        "orders": int(row["orders"]),
        "units": int(row["units"]),
        "revenue": from_cents(int(row["revenue_cents"])),
    }


def price_point(row: Row) -> PricePoint:
    """One price a product had, from its event's time and data (upcast, as every
    event read from the log is)."""
    at = datetime.fromtimestamp(float(row["recorded_at"]), UTC)
    _, data = UPCASTERS.payload(row["type"], int(row["schema_version"]), orjson.loads(row["data"]))
    price = Decimal(data["price"])
    return {"at": at.isoformat(), "price": two_decimals(price)}
