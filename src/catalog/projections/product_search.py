"""Product search: one row per product, an FTS5 index over its text, a category closure.

The FTS5 table takes its text from `ps_products` (external content) and triggers keep it
in step with every insert, update and delete, so the index can never drift from the rows
it describes. The category path names are part of the indexed text, which is why a
category rename re-indexes every product below that category.

The closure table holds one row per (ancestor, descendant) pair, the category itself
included, so "this category and everything under it" is one indexed lookup.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from typing import Any

from tandem.messages import StoredEvent
from tandem.projections.base import Projection

PATH_SEPARATOR = " / "

SCHEMA: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS ps_categories (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        parent_id TEXT,
        path TEXT NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS ps_categories_parent ON ps_categories (parent_id)",
    """
    CREATE TABLE IF NOT EXISTS ps_category_closure (
        ancestor TEXT NOT NULL,
        descendant TEXT NOT NULL,
        depth INTEGER NOT NULL,
        PRIMARY KEY (ancestor, descendant)
    ) WITHOUT ROWID
    """,
    """
    CREATE INDEX IF NOT EXISTS ps_category_closure_descendant
        ON ps_category_closure (descendant, depth)
    """,
    # The position of ProductCreated is unique per product and orders products by age,
    # so it doubles as the rowid the FTS index points at and as the `newest` sort key.
    """
    CREATE TABLE IF NOT EXISTS ps_products (
        created_position INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        sku TEXT NOT NULL,
        name TEXT NOT NULL,
        description TEXT NOT NULL,
        category_id TEXT NOT NULL,
        category_path TEXT NOT NULL,
        price_cents INTEGER NOT NULL,
        price TEXT NOT NULL,
        currency TEXT NOT NULL,
        stock INTEGER NOT NULL,
        in_stock INTEGER NOT NULL,
        status TEXT NOT NULL
    )
    """,
    # Category filters and facet counts read only this index, never the table.
    """
    CREATE INDEX IF NOT EXISTS ps_products_category
        ON ps_products (category_id, status, price_cents, stock)
    """,
    "CREATE INDEX IF NOT EXISTS ps_products_price ON ps_products (status, price_cents, id)",
    # Prefix indexes of 2 and 3 characters keep short prefix queries ("sh*") from
    # scanning every term of the vocabulary.
    """
    CREATE VIRTUAL TABLE IF NOT EXISTS ps_fts USING fts5 (
        name, description, sku, category_path,
        content = 'ps_products',
        content_rowid = 'created_position',
        tokenize = 'unicode61 remove_diacritics 2',
        prefix = '2 3'
    )
    """,
    """
    CREATE TRIGGER IF NOT EXISTS ps_products_fts_insert AFTER INSERT ON ps_products BEGIN
        INSERT INTO ps_fts (rowid, name, description, sku, category_path)
        VALUES (new.created_position, new.name, new.description, new.sku, new.category_path);
    END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS ps_products_fts_delete AFTER DELETE ON ps_products BEGIN
        INSERT INTO ps_fts (ps_fts, rowid, name, description, sku, category_path)
        VALUES ('delete', old.created_position, old.name, old.description, old.sku,
                old.category_path);
    END
    """,
    # Price and stock changes do not name these columns, so they never touch the index;
    # the WHEN clause skips updates that leave the text as it was.
    """
    CREATE TRIGGER IF NOT EXISTS ps_products_fts_update
    AFTER UPDATE OF name, description, sku, category_path ON ps_products
    WHEN old.name IS NOT new.name OR old.description IS NOT new.description
        OR old.sku IS NOT new.sku OR old.category_path IS NOT new.category_path
    BEGIN
        INSERT INTO ps_fts (ps_fts, rowid, name, description, sku, category_path)
        VALUES ('delete', old.created_position, old.name, old.description, old.sku,
                old.category_path);
        INSERT INTO ps_fts (rowid, name, description, sku, category_path)
        VALUES (new.created_position, new.name, new.description, new.sku, new.category_path);
    END
    """,
)


def cents(price: str | Decimal) -> int:
    """A money amount (at most two decimals) as an integer number of cents."""
    return int((Decimal(price) * 100).to_integral_value())


def _category_path(tx: sqlite3.Connection, category_id: str) -> str:
    row = tx.execute("SELECT path FROM ps_categories WHERE id = ?", (category_id,)).fetchone()
    return "" if row is None else str(row[0])


class ProductSearchProjection(Projection[sqlite3.Connection]):
    """Folds product, stock and category events into the SQLite FTS5 search model."""

    name = "product_search"
    version = 1
    event_types = frozenset(
        {
            "CategoryCreated",
            "CategoryRenamed",
            "ProductCreated",
            "ProductDetailsUpdated",
            "PriceChanged",
            "StockAdjusted",
            "ProductDiscontinued",
        }
    )

    def setup(self, tx: sqlite3.Connection) -> None:
        for statement in SCHEMA:
            tx.execute(statement)

    def apply(self, tx: sqlite3.Connection, event: StoredEvent) -> None:
        data: dict[str, Any] = event.data
        product_id = event.aggregate_id
        if event.type == "CategoryCreated":
            self._create_category(tx, event.aggregate_id, data["name"], data["parent_id"])
        elif event.type == "CategoryRenamed":
            self._rename_category(tx, event.aggregate_id, data["name"])
        elif event.type == "ProductCreated":
            tx.execute(
                "INSERT INTO ps_products (created_position, id, sku, name, description,"
                " category_id, category_path, price_cents, price, currency, stock, in_stock,"
                " status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active')"
                " ON CONFLICT (id) DO NOTHING",
                (
                    event.position,
                    product_id,
                    data["sku"],
                    data["name"],
                    data["description"],
                    data["category_id"],
                    _category_path(tx, data["category_id"]),
                    cents(data["price"]),
                    data["price"],
                    data["currency"],
                    data["stock"],
                    int(data["stock"] > 0),
                ),
            )
        elif event.type == "ProductDetailsUpdated":
            tx.execute(
                "UPDATE ps_products SET name = ?, description = ?, category_id = ?,"
                " category_path = ? WHERE id = ?",
                (
                    data["name"],
                    data["description"],
                    data["category_id"],
                    _category_path(tx, data["category_id"]),
                    product_id,
                ),
            )
        elif event.type == "PriceChanged":
            tx.execute(
                "UPDATE ps_products SET price_cents = ?, price = ?, currency = ? WHERE id = ?",
                (cents(data["price"]), data["price"], data["currency"], product_id),
            )
        elif event.type == "StockAdjusted":
            tx.execute(
                "UPDATE ps_products SET stock = ?, in_stock = ? WHERE id = ?",
                (data["stock"], int(data["stock"] > 0), product_id),
            )
        elif event.type == "ProductDiscontinued":
            tx.execute("UPDATE ps_products SET status = 'discontinued' WHERE id = ?", (product_id,))

    def _create_category(
        self, tx: sqlite3.Connection, category_id: str, name: str, parent_id: str | None
    ) -> None:
        parent_path = _category_path(tx, parent_id) if parent_id is not None else ""
        path = f"{parent_path}{PATH_SEPARATOR}{name}" if parent_path else name
        tx.execute(
            "INSERT INTO ps_categories (id, name, parent_id, path) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
            " parent_id = excluded.parent_id, path = excluded.path",
            (category_id, name, parent_id, path),
        )
        tx.execute(
            "INSERT OR IGNORE INTO ps_category_closure (ancestor, descendant, depth)"
            " VALUES (?, ?, 0)",
            (category_id, category_id),
        )
        if parent_id is not None:
            tx.execute(
                "INSERT OR IGNORE INTO ps_category_closure (ancestor, descendant, depth)"
                " SELECT ancestor, ?, depth + 1 FROM ps_category_closure WHERE descendant = ?",
                (category_id, parent_id),
            )

    def _rename_category(self, tx: sqlite3.Connection, category_id: str, name: str) -> None:
        tx.execute("UPDATE ps_categories SET name = ? WHERE id = ?", (name, category_id))
        subtree = [
            row[0]
            for row in tx.execute(
                "SELECT descendant FROM ps_category_closure WHERE ancestor = ?", (category_id,)
            ).fetchall()
        ]
        for descendant in subtree:
            names = [
                row[0]
                for row in tx.execute(
                    "SELECT c.name FROM ps_category_closure cl"
                    " JOIN ps_categories c ON c.id = cl.ancestor"
                    " WHERE cl.descendant = ? ORDER BY cl.depth DESC",
                    (descendant,),
                ).fetchall()
            ]
            path = PATH_SEPARATOR.join(names)
            tx.execute("UPDATE ps_categories SET path = ? WHERE id = ?", (path, descendant))
            # The update trigger re-indexes each product's text with the new path.
            tx.execute(
                "UPDATE ps_products SET category_path = ? WHERE category_id = ?",
                (path, descendant),
            )
