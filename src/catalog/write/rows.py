"""Aggregates from write-table rows, the same for every backend.

A row is anything indexable by column name (`sqlite3.Row`, `asyncpg.Record`); JSON
columns arrive as text (PostgreSQL queries cast `jsonb` to `text`).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import orjson

from catalog.domain.cart import Cart
from catalog.domain.category import Category
from catalog.domain.events import OrderLine
from catalog.domain.order import Order
from catalog.domain.product import Product
from tandem.codec import from_data


def category(row: Any) -> Category:
    return Category(row["id"], row["name"], row["slug"], row["parent_id"], row["version"])


def product(row: Any) -> Product:
    return Product(
        row["id"],
        sku=row["sku"],
        name=row["name"],
        description=row["description"],
        category_id=row["category_id"],
        price=Decimal(row["price"]),
        currency=row["currency"],
        attributes=orjson.loads(row["attributes"]),
        stock=row["stock"],
        status=row["status"],
        version=row["version"],
    )


def cart(row: Any, lines: Iterable[Any]) -> Cart:
    return Cart(
        row["id"], row["owner"], {r["product_id"]: r["quantity"] for r in lines}, row["version"]
    )


def order(row: Any) -> Order:
    lines = tuple(from_data(OrderLine, item) for item in orjson.loads(row["lines"]))
    return Order(
        row["id"],
        cart_id=row["cart_id"],
        customer=row["customer"],
        lines=lines,
        total=Decimal(row["total"]),
        currency=row["currency"],
        placed_at=row["placed_at"],
        status=row["status"],
        version=row["version"],
    )
