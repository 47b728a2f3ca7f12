"""Product detail: one display-ready document per product, category path included.

A category rename rewrites the documents of every product in that category's subtree,
the cascade that denormalized views cost.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

import orjson

from catalog.domain.events import CATEGORY_AND_PRODUCT_EVENTS
from catalog.read_models.product_detail.rules import (
    category_block,
    change_document,
    created_document,
)
from catalog.read_models.shapes import CategoryBlock, ProductDocument
from tandem.db.sqlite import run_script
from tandem.messages import StoredEvent
from tandem.projections.base import Projection

SCHEMA = """
CREATE TABLE IF NOT EXISTS pd_categories (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    parent_id TEXT,
    path TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS pd_categories_parent ON pd_categories (parent_id);
CREATE TABLE IF NOT EXISTS product_detail (
    id TEXT PRIMARY KEY,
    category_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    changed_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS product_detail_category ON product_detail (category_id);
"""

# `changed_at` (the position of the last event that changed a document) lets one
# indexed query per checkpoint find every changed document, cascades included: what
# live subscriptions need, whatever their number.
CHANGE_INDEX = "CREATE INDEX IF NOT EXISTS product_detail_changed ON product_detail (changed_at)"


def _category_block(conn: sqlite3.Connection, category_id: str) -> CategoryBlock:
    row = conn.execute(
        "SELECT name, path FROM pd_categories WHERE id = ?", (category_id,)
    ).fetchone()
    if row is None:
        return category_block(category_id)
    return category_block(category_id, row[0], orjson.loads(row[1]))


def _load(conn: sqlite3.Connection, product_id: str) -> dict[str, Any] | None:
    """The product's document as a dict the fold may change."""
    found = fetch(conn, product_id)
    return None if found is None else dict(found)


def _store(conn: sqlite3.Connection, doc: Mapping[str, Any], position: int) -> None:
    conn.execute(
        "INSERT INTO product_detail (id, category_id, doc, changed_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET category_id = excluded.category_id,"
        " doc = excluded.doc, changed_at = excluded.changed_at",
        (doc["id"], doc["category"]["id"], orjson.dumps(doc), position),
    )


class ProductDetailProjection(Projection[sqlite3.Connection]):
    name = "product_detail"
    version = 1
    event_types = CATEGORY_AND_PRODUCT_EVENTS

    def setup(self, tx: sqlite3.Connection) -> None:
        run_script(tx, SCHEMA)
        columns = {row[1] for row in tx.execute("PRAGMA table_info(product_detail)")}
        if "changed_at" not in columns:  # a data directory from before the column
            tx.execute(
                "ALTER TABLE product_detail ADD COLUMN changed_at INTEGER NOT NULL DEFAULT 0"
            )
        tx.execute(CHANGE_INDEX)

    def apply(self, tx: sqlite3.Connection, event: StoredEvent) -> None:
        data = event.data
        if event.type == "CategoryCreated":
            parent = data["parent_id"]
            path: list[str] = []
            if parent is not None:
                row = tx.execute(
                    "SELECT path FROM pd_categories WHERE id = ?", (parent,)
                ).fetchone()
                path = orjson.loads(row[0]) if row else []
            tx.execute(
                "INSERT OR REPLACE INTO pd_categories (id, name, parent_id, path) VALUES (?,?,?,?)",
                (event.aggregate_id, data["name"], parent, orjson.dumps([*path, data["name"]])),
            )
        elif event.type == "CategoryRenamed":
            self._rename(tx, event.aggregate_id, data["name"], event.position)
        elif event.type == "ProductCreated":
            category = _category_block(tx, data["category_id"])
            doc = created_document(event.aggregate_id, event.aggregate_version, data, category)
            _store(tx, doc, event.position)
        else:
            found = _load(tx, event.aggregate_id)
            if found is None:
                return
            placed = event.type == "ProductDetailsUpdated"
            moved_to = _category_block(tx, data["category_id"]) if placed else None
            change_document(found, event.type, data, event.aggregate_version, moved_to)
            _store(tx, found, event.position)

    def _rename(self, tx: sqlite3.Connection, category_id: str, name: str, position: int) -> None:
        tx.execute("UPDATE pd_categories SET name = ? WHERE id = ?", (name, category_id))
        # Recompute the path of the renamed category and of every descendant, then
        # rewrite the category block of each product below it.
        changed: list[str] = []
        frontier = [category_id]
        while frontier:
            current = frontier.pop()
            row = tx.execute(
                "SELECT c.name, p.path FROM pd_categories c"
                " LEFT JOIN pd_categories p ON p.id = c.parent_id WHERE c.id = ?",
                (current,),
            ).fetchone()
            if row is None:
                continue  # a category this read model never saw: nothing to rewrite
            parent_path = orjson.loads(row[1]) if row[1] else []
            tx.execute(
                "UPDATE pd_categories SET path = ? WHERE id = ?",
                (orjson.dumps([*parent_path, row[0]]), current),
            )
            changed.append(current)
            frontier.extend(
                r[0]
                for r in tx.execute(
                    "SELECT id FROM pd_categories WHERE parent_id = ?", (current,)
                ).fetchall()
            )
        for cid in changed:
            block = _category_block(tx, cid)
            rows = tx.execute(
                "SELECT doc FROM product_detail WHERE category_id = ?", (cid,)
            ).fetchall()
            for (raw,) in rows:
                doc = orjson.loads(raw)
                doc["category"] = block
                _store(tx, doc, position)


def fetch(conn: sqlite3.Connection, product_id: str) -> ProductDocument | None:
    """The display-ready document of one product, or None."""
    row = conn.execute("SELECT doc FROM product_detail WHERE id = ?", (product_id,)).fetchone()
    if row is None:
        return None
    found: ProductDocument = orjson.loads(row[0])
    return found


def document(conn: sqlite3.Connection, product_id: str) -> tuple[int, bytes] | None:
    """(changed_at, document as stored) of one product, read in one statement: the
    position a cache may file the document under."""
    row = conn.execute(
        "SELECT changed_at, doc FROM product_detail WHERE id = ?", (product_id,)
    ).fetchone()
    return None if row is None else (int(row[0]), bytes(row[1]))


def last_change(conn: sqlite3.Connection) -> int:
    """The position of the newest change of any document (0 with none): one step down
    the `changed_at` index."""
    row = conn.execute("SELECT MAX(changed_at) FROM product_detail").fetchone()
    return int(row[0] or 0)


def changed_since(conn: sqlite3.Connection, position: int) -> list[tuple[str, int, bytes]]:
    """(id, changed_at, document) of every product changed after `position`."""
    rows = conn.execute(
        "SELECT id, changed_at, doc FROM product_detail WHERE changed_at > ? ORDER BY changed_at",
        (position,),
    ).fetchall()
    # Documents are stored as the JSON bytes orjson wrote; SQLite hands them back as is.
    return [(str(r[0]), int(r[1]), bytes(r[2])) for r in rows]
