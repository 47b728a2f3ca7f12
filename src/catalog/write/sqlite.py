"""Loading and saving aggregates in the SQLite write tables, inside the unit of work.

Loads run in the unit of work's open transaction; saves run in its commit, beside the
event append. SQLite has one writer at a time, so loads need no row locks; each save
still checks the stored version, so even a writer that bypassed the unit of work's lock
could not overwrite a newer state.
"""

from __future__ import annotations

import sqlite3

import orjson

from catalog.domain.cart import Cart
from catalog.domain.category import Category
from catalog.domain.errors import DuplicateSku, NotFound
from catalog.domain.order import Order
from catalog.domain.product import Product
from catalog.write import rows
from catalog.write.repositories import Table
from tandem.codec import to_data
from tandem.errors import ConcurrencyConflict
from tandem.uow.sqlite import Save, SqliteUnitOfWork


def _check_version(cursor: sqlite3.Cursor, kind: str, id: str, expected: int) -> None:
    if cursor.rowcount != 1:
        raise ConcurrencyConflict(id, expected, -1)


def save_category(conn: sqlite3.Connection, c: Category) -> None:
    cur = conn.execute(
        "INSERT INTO categories (id, name, slug, parent_id, version) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name, slug = excluded.slug,"
        " version = excluded.version WHERE categories.version < excluded.version",
        (c.id, c.name, c.slug, c.parent_id, c.version),
    )
    _check_version(cur, "category", c.id, c.version)


_PRODUCT_UPSERT = rows.product_upsert(["?"] * 12)


def save_product(conn: sqlite3.Connection, p: Product) -> None:
    try:
        cur = conn.execute(_PRODUCT_UPSERT, rows.product_values(p, orjson.dumps(p.attributes)))
    except sqlite3.IntegrityError as exc:
        if "products.sku" in str(exc):
            raise DuplicateSku(f"SKU {p.sku!r} is already used") from exc
        raise
    _check_version(cur, "product", p.id, p.version)


def save_cart(conn: sqlite3.Connection, c: Cart) -> None:
    cur = conn.execute(
        "INSERT INTO carts (id, owner, version) VALUES (?, ?, ?) ON CONFLICT (id)"
        " DO UPDATE SET version = excluded.version WHERE carts.version < excluded.version",
        (c.id, c.owner, c.version),
    )
    _check_version(cur, "cart", c.id, c.version)
    conn.execute("DELETE FROM cart_lines WHERE cart_id = ?", (c.id,))
    conn.executemany(
        "INSERT INTO cart_lines (cart_id, product_id, quantity) VALUES (?, ?, ?)",
        [(c.id, pid, q) for pid, q in c.lines.items()],
    )


def save_order(conn: sqlite3.Connection, o: Order) -> None:
    cur = conn.execute(
        "INSERT INTO orders (id, cart_id, customer, status, total, currency, placed_at, lines,"
        " contact, version) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET"
        " status = excluded.status, version = excluded.version"
        " WHERE orders.version < excluded.version",
        (
            o.id,
            o.cart_id,
            o.customer,
            o.status,
            str(o.total),
            o.currency,
            o.placed_at,
            orjson.dumps(to_data(o.lines)),
            rows.contact_json(o),
            o.version,
        ),
    )
    _check_version(cur, "order", o.id, o.version)


SAVERS: dict[type, Save] = {
    Category: save_category,
    Product: save_product,
    Cart: save_cart,
    Order: save_order,
}


class SqliteRepositories:
    """Aggregate access for one SQLite unit of work (a `Repositories`)."""

    def __init__(self, uow: SqliteUnitOfWork) -> None:
        self._uow = uow

    async def category(self, id: str) -> Category:
        row = await self._uow.run(
            lambda c: c.execute("SELECT * FROM categories WHERE id = ?", (id,)).fetchone()
        )
        if row is None:
            raise NotFound("category", id)
        return rows.category(row)

    async def category_ancestors(self, id: str) -> list[str]:
        """Ids from `id` up to the root, `id` first."""
        rows = await self._uow.run(
            lambda c: c.execute(
                "WITH RECURSIVE up(id, parent_id, depth) AS ("
                " SELECT id, parent_id, 0 FROM categories WHERE id = ?"
                " UNION ALL SELECT c.id, c.parent_id, up.depth + 1 FROM categories c"
                " JOIN up ON c.id = up.parent_id WHERE up.depth < 64)"
                " SELECT id FROM up ORDER BY depth",
                (id,),
            ).fetchall()
        )
        return [str(r[0]) for r in rows]

    async def exists(self, table: Table, id: str) -> bool:
        assert table in {"categories", "products", "carts", "orders"}
        row = await self._uow.run(
            lambda c: c.execute(f"SELECT 1 FROM {table} WHERE id = ?", (id,)).fetchone()
        )
        return row is not None

    async def sku_taken(self, sku: str) -> bool:
        row = await self._uow.run(
            lambda c: c.execute("SELECT 1 FROM products WHERE sku = ?", (sku,)).fetchone()
        )
        return row is not None

    async def product(self, id: str, *, lock: bool = True) -> Product:
        products = await self.products([id])
        if id not in products:
            raise NotFound("product", id)
        return products[id]

    async def products(self, ids: list[str]) -> dict[str, Product]:
        def load(c: sqlite3.Connection) -> list[sqlite3.Row]:
            marks = ",".join("?" * len(ids))
            return c.execute(f"SELECT * FROM products WHERE id IN ({marks})", ids).fetchall()

        found = await self._uow.run(load) if ids else []
        return {row["id"]: rows.product(row) for row in found}

    async def cart(self, id: str) -> Cart | None:
        def load(c: sqlite3.Connection) -> tuple[sqlite3.Row | None, list[sqlite3.Row]]:
            row = c.execute("SELECT * FROM carts WHERE id = ?", (id,)).fetchone()
            lines = c.execute(
                "SELECT product_id, quantity FROM cart_lines WHERE cart_id = ?", (id,)
            ).fetchall()
            return row, lines

        row, lines = await self._uow.run(load)
        if row is None:
            return None
        return rows.cart(row, lines)

    async def order(self, id: str) -> Order:
        row = await self._uow.run(
            lambda c: c.execute("SELECT * FROM orders WHERE id = ?", (id,)).fetchone()
        )
        if row is None:
            raise NotFound("order", id)
        return rows.order(row)


class SqliteCatalogUnitOfWork(SqliteUnitOfWork):
    """The SQLite unit of work with the catalog's repositories."""

    def repositories(self) -> SqliteRepositories:
        return SqliteRepositories(self)
