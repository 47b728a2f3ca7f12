"""Category stats: counts, stock and prices of active products, per category subtree.

The view is a materialized aggregate kept by deltas: an event changes one product, so
it only moves that product's contribution out of one root path and into another. To
compute the delta without rescanning products, the read model keeps each product's
last contribution, the category tree as an ancestor closure, and per category a
multiset of prices so that min and max survive the cheapest product leaving.

Each batch also records the scopes it touched (`SCOPES`, `catalog.read_models.sqlite_scopes`).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from catalog.domain.events import CATEGORY_AND_PRODUCT_EVENTS
from catalog.read_models.category_stats.rules import (
    Move,
    Product,
    contribution_moves,
    next_product,
    stats_document,
    tree_document,
)
from catalog.read_models.shapes import CategoryNode, CategoryStats
from catalog.read_models.sqlite_scopes import ScopeLog
from tandem.db.sqlite import run_script
from tandem.messages import StoredEvent
from tandem.projections.base import Projection

SCHEMA = """
CREATE TABLE IF NOT EXISTS cs_categories (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    parent_id TEXT,
    product_count INTEGER NOT NULL DEFAULT 0,
    in_stock_count INTEGER NOT NULL DEFAULT 0,
    total_stock INTEGER NOT NULL DEFAULT 0,
    price_sum_cents INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS cs_ancestors (
    category_id TEXT NOT NULL,
    ancestor_id TEXT NOT NULL,
    depth INTEGER NOT NULL,
    PRIMARY KEY (category_id, ancestor_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cs_products (
    id TEXT PRIMARY KEY,
    category_id TEXT NOT NULL,
    price_cents INTEGER NOT NULL,
    stock INTEGER NOT NULL,
    active INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cs_prices (
    category_id TEXT NOT NULL,
    price_cents INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (category_id, price_cents)
) WITHOUT ROWID
"""
# cs_prices is clustered on (category_id, price_cents): the min and max of one category
# are the first and last entries of its key range, a single index seek each.

_ANCESTORS = "SELECT ancestor_id FROM cs_ancestors WHERE category_id = ?"


def _shift(tx: sqlite3.Connection, category_id: str, deltas: tuple[int, int, int, int]) -> None:
    if not any(deltas):
        return
    tx.execute(
        "UPDATE cs_categories SET product_count = product_count + ?,"
        " in_stock_count = in_stock_count + ?, total_stock = total_stock + ?,"
        f" price_sum_cents = price_sum_cents + ? WHERE id IN ({_ANCESTORS})",
        (*deltas, category_id),
    )


def _count_price(tx: sqlite3.Connection, category_id: str, price_cents: int, change: int) -> None:
    tx.execute(
        "INSERT INTO cs_prices (category_id, price_cents, count)"
        " SELECT ancestor_id, ?, ? FROM cs_ancestors WHERE category_id = ?"
        " ON CONFLICT (category_id, price_cents) DO UPDATE SET count = count + excluded.count",
        (price_cents, change, category_id),
    )
    if change < 0:
        # An empty bucket must go, or it would still answer as the min or max.
        tx.execute(
            f"DELETE FROM cs_prices WHERE price_cents = ? AND count <= 0"
            f" AND category_id IN ({_ANCESTORS})",
            (price_cents, category_id),
        )


def _apply(tx: sqlite3.Connection, move: Move) -> None:
    """One move into the counters and price multisets of the category and its ancestors."""
    _shift(tx, move.category_id, move.deltas)
    if move.removed_price is not None:
        _count_price(tx, move.category_id, move.removed_price, -1)
    if move.added_price is not None:
        _count_price(tx, move.category_id, move.added_price, +1)


def _load(tx: sqlite3.Connection, product_id: str) -> Product | None:
    row = tx.execute(
        "SELECT category_id, price_cents, stock, active FROM cs_products WHERE id = ?",
        (product_id,),
    ).fetchone()
    return None if row is None else Product(row[0], row[1], row[2], bool(row[3]))


def _save(tx: sqlite3.Connection, product_id: str, p: Product) -> None:
    tx.execute(
        "INSERT INTO cs_products (id, category_id, price_cents, stock, active)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
        " category_id = excluded.category_id, price_cents = excluded.price_cents,"
        " stock = excluded.stock, active = excluded.active",
        (product_id, p.category_id, p.price_cents, p.stock, int(p.active)),
    )


def _create_category(tx: sqlite3.Connection, id: str, data: dict[str, Any]) -> None:
    parent = data["parent_id"]
    tx.execute(
        "INSERT INTO cs_categories (id, name, slug, parent_id) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name, slug = excluded.slug",
        (id, data["name"], data["slug"], parent),
    )
    tx.execute("INSERT OR IGNORE INTO cs_ancestors VALUES (?, ?, 0)", (id, id))
    if parent is not None:
        # Categories never change parent, so the closure is written once, here.
        tx.execute(
            "INSERT OR IGNORE INTO cs_ancestors (category_id, ancestor_id, depth)"
            " SELECT ?, ancestor_id, depth + 1 FROM cs_ancestors WHERE category_id = ?",
            (id, parent),
        )


SCOPES = ScopeLog("cs", "category_stats")


def _category_of(tx: sqlite3.Connection, product_id: str) -> str | None:
    row = tx.execute("SELECT category_id FROM cs_products WHERE id = ?", (product_id,)).fetchone()
    return None if row is None else str(row[0])


def _ancestors_of(tx: sqlite3.Connection, category_id: str) -> list[str]:
    return [str(row[0]) for row in tx.execute(_ANCESTORS, (category_id,)).fetchall()]


class CategoryStatsProjection(Projection[sqlite3.Connection]):
    """Per-category stats over each category's whole subtree, updated by deltas."""

    name = "category_stats"
    version = 1
    event_types = CATEGORY_AND_PRODUCT_EVENTS

    def setup(self, tx: sqlite3.Connection) -> None:
        run_script(tx, SCHEMA)
        SCOPES.setup(tx)

    def __init__(self) -> None:
        # Each category's ancestors, once read: the scope changes need them per event.
        self._ancestors: dict[str, list[str]] = {}

    def apply_batch(self, tx: sqlite3.Connection, events: list[StoredEvent]) -> None:
        SCOPES.apply_batch(tx, events, self.apply, _category_of, _ancestors_of, self._ancestors)

    def apply(self, tx: sqlite3.Connection, event: StoredEvent) -> None:
        data = event.data
        if event.type == "CategoryCreated":
            _create_category(tx, event.aggregate_id, data)
            return
        if event.type == "CategoryRenamed":
            tx.execute(
                "UPDATE cs_categories SET name = ?, slug = ? WHERE id = ?",
                (data["name"], data["slug"], event.aggregate_id),
            )
            return
        old = _load(tx, event.aggregate_id)
        new = next_product(event.type, data, old)
        if new is None:
            return
        for move in contribution_moves(old, new):
            _apply(tx, move)
        _save(tx, event.aggregate_id, new)


def fetch_stats(conn: sqlite3.Connection, category_id: str) -> CategoryStats | None:
    """The stats of one category and its subtree, display-ready, or None."""
    row = conn.execute(
        "SELECT name, product_count, in_stock_count, total_stock, price_sum_cents,"
        " (SELECT price_cents FROM cs_prices p WHERE p.category_id = c.id"
        "  ORDER BY price_cents LIMIT 1),"
        " (SELECT price_cents FROM cs_prices p WHERE p.category_id = c.id"
        "  ORDER BY price_cents DESC LIMIT 1)"
        " FROM cs_categories c WHERE id = ?",
        (category_id,),
    ).fetchone()
    if row is None:
        return None
    name, count, in_stock, stock, price_sum, low, high = tuple(row)
    return stats_document(category_id, name, count, in_stock, stock, price_sum, low, high)


def fetch_tree(conn: sqlite3.Connection) -> list[CategoryNode]:
    """Every category as a tree of nodes with subtree product counts, sorted by name."""
    rows = conn.execute(
        "SELECT id, name, slug, parent_id, product_count FROM cs_categories"
    ).fetchall()
    return tree_document(tuple(row) for row in rows)
