"""Write-table rows, the same for every backend: aggregates read from rows, and the
statements and values that save them.

A row is anything indexable by column name (`sqlite3.Row`, `asyncpg.Record`); JSON
columns arrive as text (PostgreSQL queries cast `jsonb` to `text`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import orjson

from catalog.domain.cart import Cart
from catalog.domain.category import Category
from catalog.domain.contact import Contact
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


def contact_json(o: Order) -> str | None:
    """The order's contact as its row keeps it: a JSON object, or NULL."""
    if o.contact is None:
        return None
    return orjson.dumps({"name": o.contact.name, "email": o.contact.email}).decode()


def contact(raw: str | None) -> Contact | None:
    if raw is None:
        return None
    data = orjson.loads(raw)
    return Contact(data["name"], data["email"])


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
        contact=contact(row["contact"]),
        version=row["version"],
    )


def product_upsert(placeholders: Sequence[str]) -> str:
    """The statement that saves a product row unless a newer version is stored, with
    the backend's twelve placeholders (in the order of `product_values`)."""
    return (
        "INSERT INTO products (id, sku, name, description, category_id, price, price_cents,"
        f" currency, attributes, stock, status, version) VALUES ({', '.join(placeholders)})"
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
        " description = excluded.description, category_id = excluded.category_id,"
        " price = excluded.price, price_cents = excluded.price_cents,"
        " attributes = excluded.attributes, stock = excluded.stock,"
        " status = excluded.status, version = excluded.version"
        " WHERE products.version < excluded.version"
    )


def product_values(p: Product, attributes: str | bytes) -> tuple[Any, ...]:
    """A product's column values for `product_upsert`, its attributes already encoded
    as the backend stores JSON."""
    cents = int(p.price * 100)
    return (p.id, p.sku, p.name, p.description, p.category_id, str(p.price), cents,
            p.currency, attributes, p.stock, p.status, p.version)  # fmt: skip
