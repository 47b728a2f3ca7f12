"""Product search: product facts and text, an FTS5 index over the text, a category closure.

The FTS5 table takes its text from `ps_product_text` (external content). The projection
writes the index itself, beside every change of an indexed column, rather than through
triggers: a statement that fires a trigger runs in a statement savepoint, FTS5 flushes
its pending terms at every savepoint, and catching up then writes one index segment per
product, several times slower. The facet counts are kept by hand for the same reason.

Besides the searchable text, each product's FTS row carries filter tokens: one per
category on its path (`c<key>`) and one for its stock state (`s1` / `s0`). A text search
narrowed to a category then intersects posting lists inside FTS5 instead of fetching
every text match to discard most of them. The stock tokens are not searched: nearly
every product is in stock, so their posting list is nearly the whole catalog, longer to
intersect with than the matches' rows are to check. The category path names are indexed
text, so a category rename re-indexes every product below that category.

The closure table holds one row per (ancestor, descendant) pair, the category itself
included, so "this category and everything under it" is one indexed lookup. Counts per
(category, price bucket, stock state) let a search without text or price range answer
its total and facets without reading the products.

The words of names and category paths, and their trigrams, are kept for the typo
fallback of the reads (`sqlite_typos`).

Each batch also records the scopes it touched (`sqlite_scoping`).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from catalog.domain.events import CATEGORY_AND_PRODUCT_EVENTS
from catalog.read_models.money import cents
from catalog.read_models.product_search.rules import PATH_SEPARATOR, bucket
from catalog.read_models.product_search.sqlite_scoping import SCOPES, record_batch
from catalog.read_models.product_search.sqlite_typos import SCHEMA as TYPO_SCHEMA
from catalog.read_models.product_search.sqlite_typos import Vocabulary
from tandem.messages import StoredEvent
from tandem.projections.base import Projection

# FTS index segments above which a settling store merges them (`settle`): FTS5's own
# merges keep a live index well below.
MERGE_PAST = 16

IN_STOCK_TOKEN = "s1"
OUT_OF_STOCK_TOKEN = "s0"

SCHEMA: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS ps_categories (
        key INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        parent_id TEXT,
        path TEXT NOT NULL,
        tokens TEXT NOT NULL
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
    # The long text lives apart from the facts, and what a text search looks up for
    # every match apart again (`ps_matches`): the narrower the rows, the faster.
    """
    CREATE TABLE IF NOT EXISTS ps_products (
        created_position INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        category_id TEXT NOT NULL,
        price_cents INTEGER NOT NULL,
        price TEXT NOT NULL,
        currency TEXT NOT NULL,
        stock INTEGER NOT NULL,
        in_stock INTEGER NOT NULL,
        status TEXT NOT NULL
    )
    """,
    # What a text search needs of each match, and no more: the FTS index hands back
    # rowids, and looking up narrow rows of integers (the category by its key) costs
    # a third less per match than the wide `ps_products` rows. `category_key` is NULL
    # while the product's category is unknown to the read model.
    """
    CREATE TABLE IF NOT EXISTS ps_matches (
        created_position INTEGER PRIMARY KEY,
        id TEXT NOT NULL,
        category_key INTEGER,
        price_cents INTEGER NOT NULL,
        stock INTEGER NOT NULL,
        active INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS ps_product_text (
        created_position INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        description TEXT NOT NULL,
        sku TEXT NOT NULL,
        category_path TEXT NOT NULL,
        filters TEXT NOT NULL
    )
    """,
    # Both indexes cover every filter, facet and sort column, so a search without text
    # reads one index and touches the table only for the rows of its page.
    """
    CREATE INDEX IF NOT EXISTS ps_products_category
        ON ps_products (category_id, status, price_cents, stock, id)
    """,
    """
    CREATE INDEX IF NOT EXISTS ps_products_price
        ON ps_products (status, price_cents, id, category_id, stock)
    """,
    """
    CREATE TABLE IF NOT EXISTS ps_facet_counts (
        category_id TEXT NOT NULL,
        bucket INTEGER NOT NULL,
        in_stock INTEGER NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (category_id, bucket, in_stock)
    ) WITHOUT ROWID
    """,
    # Prefix indexes of 2 and 3 characters keep short prefix queries ("sh*") from
    # walking every term of the vocabulary.
    """
    CREATE VIRTUAL TABLE IF NOT EXISTS ps_fts USING fts5 (
        name, description, sku, category_path, filters,
        content = 'ps_product_text',
        content_rowid = 'created_position',
        tokenize = 'unicode61 remove_diacritics 2',
        prefix = '2 3'
    )
    """,
    *TYPO_SCHEMA,
)

_TEXT_COLUMNS = ("name", "description", "sku", "category_path", "filters")
_FACT_COLUMNS = ("category_id", "price_cents", "price", "currency", "stock", "in_stock", "status")
_FACET_COLUMNS = ("category_id", "price_cents", "in_stock", "status")
_MATCH_COLUMNS = ("category_id", "price_cents", "stock", "status")
_FTS_COLUMNS = ", ".join(_TEXT_COLUMNS)
_LOAD = (
    "SELECT p.created_position, "
    + ", ".join(f"t.{c}" for c in _TEXT_COLUMNS)
    + ", "
    + ", ".join(f"p.{c}" for c in _FACT_COLUMNS)
    + " FROM ps_products p JOIN ps_product_text t ON t.created_position = p.created_position"
)

Product = dict[str, Any]


def category_token(key: int) -> str:
    """The filter token a product carries for each category on its path."""
    return f"c{key}"


def _filters(tokens: str, stock: int) -> str:
    """The filter tokens of a product: its category path's, then its stock state's."""
    return f"{tokens} {IN_STOCK_TOKEN if stock > 0 else OUT_OF_STOCK_TOKEN}".strip()


def _category(tx: sqlite3.Connection, category_id: str) -> tuple[str, str]:
    """The path text and the filter tokens of a category ("" for an unknown one)."""
    row = tx.execute(
        "SELECT path, tokens FROM ps_categories WHERE id = ?", (category_id,)
    ).fetchone()
    return ("", "") if row is None else (str(row[0]), str(row[1]))


def _match(tx: sqlite3.Connection, position: int, product: Product) -> None:
    """Write a product's `ps_matches` row from its facts."""
    tx.execute(
        "INSERT INTO ps_matches (created_position, id, category_key, price_cents, stock, active)"
        " VALUES (?, ?, (SELECT key FROM ps_categories WHERE id = ?), ?, ?, ?)"
        " ON CONFLICT (created_position) DO UPDATE SET category_key = excluded.category_key,"
        " price_cents = excluded.price_cents, stock = excluded.stock, active = excluded.active",
        (
            position,
            product["id"],
            product["category_id"],
            product["price_cents"],
            product["stock"],
            int(product["status"] == "active"),
        ),
    )


def _index(tx: sqlite3.Connection, position: int, product: Product) -> None:
    tx.execute(
        f"INSERT INTO ps_fts (rowid, {_FTS_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
        (position, *(product[c] for c in _TEXT_COLUMNS)),
    )


def _unindex(tx: sqlite3.Connection, position: int, product: Product) -> None:
    # External content: FTS5 needs the exact values it indexed to remove their terms.
    tx.execute(
        f"INSERT INTO ps_fts (ps_fts, rowid, {_FTS_COLUMNS}) VALUES ('delete', ?, ?, ?, ?, ?, ?)",
        (position, *(product[c] for c in _TEXT_COLUMNS)),
    )


def _count(tx: sqlite3.Connection, product: Product, delta: int) -> None:
    if product["status"] != "active":
        return
    tx.execute(
        "INSERT INTO ps_facet_counts (category_id, bucket, in_stock, n) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (category_id, bucket, in_stock) DO UPDATE SET n = n + excluded.n",
        (product["category_id"], bucket(product["price_cents"]), product["in_stock"], delta),
    )


def _set(
    tx: sqlite3.Connection, table: str, position: int, product: Product, columns: list[str]
) -> None:
    # Table and column names come from this module's constants, never from input.
    assignments = ", ".join(f"{c} = ?" for c in columns)
    tx.execute(
        f"UPDATE {table} SET {assignments} WHERE created_position = ?",
        (*(product[c] for c in columns), position),
    )


def _change(
    tx: sqlite3.Connection, product_id: str, changes: Product, vocabulary: Vocabulary
) -> None:
    """Change one product's fields, then bring its index entry and facet counts along."""
    row = tx.execute(f"{_LOAD} WHERE p.id = ?", (product_id,)).fetchone()
    if row is None:
        return
    position = int(row[0])
    before: Product = dict(zip((*_TEXT_COLUMNS, *_FACT_COLUMNS), row[1:], strict=True))
    after = {**before, **changes}
    after["in_stock"] = int(after["stock"] > 0)
    if after["category_id"] != before["category_id"] or after["in_stock"] != before["in_stock"]:
        after["category_path"], tokens = _category(tx, after["category_id"])
        after["filters"] = _filters(tokens, after["stock"])
    text = [c for c in _TEXT_COLUMNS if after[c] != before[c]]
    if "name" in text:
        vocabulary.remember(tx, after["name"])
    if text:
        _set(tx, "ps_product_text", position, after, text)
        _unindex(tx, position, before)
        _index(tx, position, after)
    facts = [c for c in _FACT_COLUMNS if after[c] != before[c]]
    if facts:
        _set(tx, "ps_products", position, after, facts)
    if any(after[c] != before[c] for c in _FACET_COLUMNS):
        _count(tx, before, -1)
        _count(tx, after, 1)
    if any(after[c] != before[c] for c in _MATCH_COLUMNS):
        _match(tx, position, {**after, "id": product_id})


class ProductSearchProjection(Projection[sqlite3.Connection]):
    """Folds product, stock and category events into the SQLite FTS5 search model."""

    name = "product_search"
    # 2: the vocabulary of the typo fallback (`ps_words`, `ps_word_trigrams`).
    # 3: the facts of text-search matches (`ps_matches`).
    version = 3
    event_types = CATEGORY_AND_PRODUCT_EVENTS

    def setup(self, tx: sqlite3.Connection) -> None:
        for statement in SCHEMA:
            tx.execute(statement)
        SCOPES.setup(tx)

    def __init__(self) -> None:
        # Each category's ancestors, once read: the scope changes need them per event.
        self._ancestors: dict[str, list[str]] = {}
        self._vocabulary = Vocabulary()

    def apply_batch(self, tx: sqlite3.Connection, events: list[StoredEvent]) -> None:
        with self._vocabulary.batch(tx):
            record_batch(tx, events, self.apply, self._ancestors)

    def settle(self, tx: sqlite3.Connection) -> list[str]:
        """Merge the FTS index into one segment once a catch-up has left it in many.

        Every term a search looks up is looked up in each segment. FTS5 merges as it
        goes, yet a fold of 100,000 products leaves about 27 segments, and a search then
        costs a quarter more than on the merged index (HTTP, 16 connections). Merging
        rewrites the whole index (0.6 s at 100,000 products), so it is only done past
        `MERGE_PAST` segments: live updates add them slowly.
        """
        segments = tx.execute("SELECT count(DISTINCT segid) FROM ps_fts_idx").fetchone()[0]
        if segments <= MERGE_PAST:
            return []
        tx.execute("INSERT INTO ps_fts (ps_fts) VALUES ('optimize')")
        return ["ps_fts"]

    def apply(self, tx: sqlite3.Connection, event: StoredEvent) -> None:
        data: dict[str, Any] = event.data
        kind = event.type
        if kind == "CategoryCreated":
            self._create_category(tx, event.aggregate_id, data["name"], data["parent_id"])
        elif kind == "CategoryRenamed":
            self._rename_category(tx, event.aggregate_id, data["name"])
        elif kind == "ProductCreated":
            self._create_product(tx, event.position, event.aggregate_id, data)
        elif kind == "ProductDetailsUpdated":
            changes = {k: data[k] for k in ("name", "description", "category_id")}
            _change(tx, event.aggregate_id, changes, self._vocabulary)
        elif kind == "PriceChanged":
            changes = {
                "price_cents": cents(data["price"]),
                "price": data["price"],
                "currency": data["currency"],
            }
            _change(tx, event.aggregate_id, changes, self._vocabulary)
        elif kind == "StockAdjusted":
            _change(tx, event.aggregate_id, {"stock": data["stock"]}, self._vocabulary)
        elif kind == "ProductDiscontinued":
            _change(tx, event.aggregate_id, {"status": "discontinued"}, self._vocabulary)

    def _create_product(
        self, tx: sqlite3.Connection, position: int, product_id: str, data: dict[str, Any]
    ) -> None:
        path, tokens = _category(tx, data["category_id"])
        stock = int(data["stock"])
        product: Product = {
            "name": data["name"],
            "description": data["description"],
            "sku": data["sku"],
            "category_path": path,
            "filters": _filters(tokens, stock),
            "category_id": data["category_id"],
            "price_cents": cents(data["price"]),
            "price": data["price"],
            "currency": data["currency"],
            "stock": stock,
            "in_stock": int(stock > 0),
            "status": "active",
        }
        inserted = tx.execute(
            f"INSERT INTO ps_products (created_position, id, {', '.join(_FACT_COLUMNS)})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (position, product_id, *(product[c] for c in _FACT_COLUMNS)),
        ).rowcount
        if not inserted:
            return
        tx.execute(
            f"INSERT INTO ps_product_text (created_position, {_FTS_COLUMNS})"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (position, *(product[c] for c in _TEXT_COLUMNS)),
        )
        _index(tx, position, product)
        _count(tx, product, 1)
        _match(tx, position, {**product, "id": product_id})
        self._vocabulary.remember(tx, product["name"])

    def _create_category(
        self, tx: sqlite3.Connection, category_id: str, name: str, parent_id: str | None
    ) -> None:
        parent_path, parent_tokens = ("", "") if parent_id is None else _category(tx, parent_id)
        path = f"{parent_path}{PATH_SEPARATOR}{name}" if parent_path else name
        row = tx.execute(
            "INSERT INTO ps_categories (id, name, parent_id, path, tokens) VALUES (?, ?, ?, ?, '')"
            " ON CONFLICT (id) DO UPDATE SET name = excluded.name, path = excluded.path"
            " RETURNING key",
            (category_id, name, parent_id, path),
        ).fetchone()
        self._vocabulary.remember(tx, name)
        tokens = f"{parent_tokens} {category_token(row[0])}".strip()
        tx.execute("UPDATE ps_categories SET tokens = ? WHERE id = ?", (tokens, category_id))
        # Products that named the category before it was known to the read model.
        tx.execute(
            "UPDATE ps_matches SET category_key = ? WHERE category_key IS NULL"
            " AND created_position IN (SELECT created_position FROM ps_products"
            " WHERE category_id = ?)",
            (row[0], category_id),
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
        self._vocabulary.remember(tx, name)
        subtree = tx.execute(
            "SELECT descendant FROM ps_category_closure WHERE ancestor = ?", (category_id,)
        ).fetchall()
        for (descendant,) in subtree:
            names = tx.execute(
                "SELECT k.name FROM ps_category_closure cl"
                " JOIN ps_categories k ON k.id = cl.ancestor"
                " WHERE cl.descendant = ? ORDER BY cl.depth DESC",
                (descendant,),
            ).fetchall()
            path = PATH_SEPARATOR.join(row[0] for row in names)
            tx.execute("UPDATE ps_categories SET path = ? WHERE id = ?", (path, descendant))
            rows = tx.execute(f"{_LOAD} WHERE p.category_id = ?", (descendant,)).fetchall()
            for row in rows:
                position = int(row[0])
                before = dict(zip(_TEXT_COLUMNS, row[1:6], strict=True))
                after = {**before, "category_path": path}
                _set(tx, "ps_product_text", position, after, ["category_path"])
                _unindex(tx, position, before)
                _index(tx, position, after)
