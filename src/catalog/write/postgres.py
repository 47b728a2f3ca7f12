"""Loading and saving aggregates in the PostgreSQL write tables.

Writers run concurrently here. A command first reads without locks and commits in one
statement that checks nothing it read moved on (`tandem.uow.postgres`); if something
did, it runs again on the locking path, where it locks each aggregate it may change
before loading it, until commit: commands on one product queue instead of failing each
other's version check. Several aggregates are locked in id order, so two checkouts sharing
products queue instead of deadlocking. Each save still checks the stored version.

The locks are advisory transaction locks, not row locks, because a row lock gives the
transaction its id at once, and event positions follow transaction ids
(`tandem.eventlog.postgres`). A transaction that took its id, then waited for an
aggregate held by a younger one, would append the aggregate's next version below the
version before it, and projections would apply them in the wrong order. With advisory
locks the id is taken by the first write, at commit, once every lock is held; the next
writer of the aggregate gets its id only after this one has its own, so one aggregate's
versions always ascend with positions (`tests/services/test_pg_aggregate_order.py`).
"""

from __future__ import annotations

import orjson

from catalog.domain.cart import Cart
from catalog.domain.category import Category
from catalog.domain.errors import DuplicateSku, NotFound
from catalog.domain.order import Order
from catalog.domain.product import Product
from catalog.write import rows
from catalog.write.repositories import Table
from tandem.codec import to_data
from tandem.uow.postgres import PostgresUnitOfWork, Saver
from tandem.uow.postgres_writes import Upsert, Write

# $9 is cast: asyncpg sends the attributes as text, the column is jsonb.
_PRODUCT_UPSERT = rows.product_upsert(
    [f"${n}" for n in range(1, 9)] + ["$9::jsonb", "$10", "$11", "$12"]
)


def _product_write(p: Product) -> Write:
    return Write(
        _PRODUCT_UPSERT,
        rows.product_values(p, orjson.dumps(p.attributes).decode()),
        p.id,
        p.version,
        {"products_sku_key": lambda: DuplicateSku(f"SKU {p.sku!r} is already used")},
    )


def _category_write(c: Category) -> Write:
    return Write(
        "INSERT INTO categories (id, name, slug, parent_id, version) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name, slug = excluded.slug,"
        " version = excluded.version WHERE categories.version < excluded.version",
        (c.id, c.name, c.slug, c.parent_id, c.version),
        c.id,
        c.version,
    )


def _order_write(o: Order) -> Write:
    return Write(
        "INSERT INTO orders (id, cart_id, customer, status, total, currency, placed_at, lines,"
        " contact, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10)"
        " ON CONFLICT (id)"
        " DO UPDATE SET status = excluded.status, version = excluded.version"
        " WHERE orders.version < excluded.version",
        (
            o.id,
            o.cart_id,
            o.customer,
            o.status,
            str(o.total),
            o.currency,
            o.placed_at,
            orjson.dumps(to_data(o.lines)).decode(),
            rows.contact_json(o),
            o.version,
        ),
        o.id,
        o.version,
    )


# A cart's lines go in the same statement as its row: lines it no longer has are
# deleted, the others inserted or updated (two statements on disjoint rows, so they may
# run in either order).
_CART_LINES = (
    "DELETE FROM cart_lines WHERE cart_id = $1 AND NOT (product_id = ANY($4::text[]))",
    "INSERT INTO cart_lines (cart_id, product_id, quantity)"
    " SELECT $1, p, q FROM unnest($4::text[], $5::int[]) AS l(p, q)"
    " ON CONFLICT (cart_id, product_id) DO UPDATE SET quantity = excluded.quantity",
)


def _cart_write(c: Cart) -> Write:
    return Write(
        "INSERT INTO carts (id, owner, version) VALUES ($1, $2, $3) ON CONFLICT (id)"
        " DO UPDATE SET version = excluded.version WHERE carts.version < excluded.version",
        (c.id, c.owner, c.version, list(c.lines), list(c.lines.values())),
        c.id,
        c.version,
        also=_CART_LINES,
    )


SAVERS: dict[type, Saver] = {
    Category: Upsert(_category_write),
    Product: Upsert(_product_write),
    Cart: Upsert(_cart_write),
    Order: Upsert(_order_write),
}


_PRODUCT_COLUMNS = (
    "id, sku, name, description, category_id, price, currency, attributes::text AS attributes,"
    " stock, status, version"
)


class PostgresRepositories:
    """Aggregate access for one PostgreSQL unit of work (a `Repositories`)."""

    def __init__(self, uow: PostgresUnitOfWork) -> None:
        self._uow = uow
        self._conn = uow.connection

    async def category(self, id: str) -> Category:
        await self._uow.hold([id])
        row = await self._uow.fetchrow("SELECT * FROM categories WHERE id = $1", id)
        if row is None:
            raise NotFound("category", id)
        return rows.category(row)

    async def category_ancestors(self, id: str) -> list[str]:
        await self._uow.settle()
        rows = await self._conn.fetch(
            "WITH RECURSIVE up(id, parent_id, depth) AS ("
            " SELECT id, parent_id, 0 FROM categories WHERE id = $1"
            " UNION ALL SELECT c.id, c.parent_id, up.depth + 1 FROM categories c"
            " JOIN up ON c.id = up.parent_id WHERE up.depth < 64)"
            " SELECT id FROM up ORDER BY depth",
            id,
        )
        return [str(r[0]) for r in rows]

    async def exists(self, table: Table, id: str) -> bool:
        assert table in {"categories", "products", "carts", "orders"}
        await self._uow.settle()
        row = await self._conn.fetchrow(f"SELECT 1 FROM {table} WHERE id = $1", id)
        return row is not None

    async def sku_taken(self, sku: str) -> bool:
        await self._uow.settle()
        return await self._conn.fetchrow("SELECT 1 FROM products WHERE sku = $1", sku) is not None

    async def product(self, id: str, *, lock: bool = True) -> Product:
        if lock:
            await self._uow.hold([id])
        row = await self._uow.fetchrow(f"SELECT {_PRODUCT_COLUMNS} FROM products WHERE id = $1", id)
        if row is None:
            raise NotFound("product", id)
        return rows.product(row)

    async def products(self, ids: list[str]) -> dict[str, Product]:
        if not ids:
            return {}
        await self._uow.hold(ids)
        found = await self._conn.fetch(
            f"SELECT {_PRODUCT_COLUMNS} FROM products WHERE id = ANY($1::text[])", sorted(ids)
        )
        return {row["id"]: rows.product(row) for row in found}

    async def cart(self, id: str) -> Cart | None:
        await self._uow.hold([id])
        row = await self._uow.fetchrow("SELECT * FROM carts WHERE id = $1", id)
        if row is None:
            return None
        lines = await self._conn.fetch(
            "SELECT product_id, quantity FROM cart_lines WHERE cart_id = $1", id
        )
        return rows.cart(row, lines)

    async def order(self, id: str) -> Order:
        await self._uow.hold([id])
        row = await self._uow.fetchrow(
            "SELECT id, cart_id, customer, status, total, currency, placed_at,"
            " lines::text AS lines, contact::text AS contact, version FROM orders WHERE id = $1",
            id,
        )
        if row is None:
            raise NotFound("order", id)
        return rows.order(row)


class PostgresCatalogUnitOfWork(PostgresUnitOfWork):
    """The PostgreSQL unit of work with the catalog's repositories."""

    def repositories(self) -> PostgresRepositories:
        return PostgresRepositories(self)
