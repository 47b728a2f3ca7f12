"""Product search on PostgreSQL: the SQLite search model's facts, in `tsvector` and trigrams.

The same events give the same products, categories and facet counts as
`catalog.projections.product_search` (its name, version and event types are reused), so
`catalog.read.postgres_search` answers every search exactly as the SQLite reads do.

- Full text: `search`, a `tsvector` with a GIN index, holds the words of the name
  (weight A), SKU (B), description (D) and category path (C), split by
  `catalog.projections.postgres.words` exactly as FTS5 splits them. The path's part is
  kept per category (`path_vector`) and appended to the product's own (`doc_vector`), so
  a category rename rewrites `search` in one UPDATE, without reading product text.
- Typo tolerance: `fuzzy` (the name's and category path's words) has a GIN trigram index
  (`pg_trgm`), for the reads' fallback when full text finds nothing.
- Category subtree: a closure table, one row per (ancestor, descendant), self included.
- Facets: counts per (category, price bucket, stock state) of active products, so a
  search without text or price range reads no product rows.

Every table name starts with `product_search_v1_` (`table_prefix`): a later version
builds its tables beside these. Ids and categories use the "C" collation, so `ORDER BY
id` is byte order, as in SQLite, whatever the database's collation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from catalog.projections.postgres.words import tsvector, words
from catalog.projections.product_search import (
    PATH_SEPARATOR,
    ProductSearchProjection,
    bucket,
    cents,
)
from tandem.messages import StoredEvent
from tandem.projections.base import AsyncProjection
from tandem.stores.postgres_projections import table_prefix

if TYPE_CHECKING:
    from tandem.pg import Connection


@dataclass(frozen=True)
class SearchTables:
    """The names of one version's tables."""

    categories: str
    closure: str
    products: str
    facets: str

    @classmethod
    def named(cls, prefix: str) -> SearchTables:
        return cls(
            f"{prefix}_categories", f"{prefix}_closure", f"{prefix}_products", f"{prefix}_facets"
        )


def schema(t: SearchTables) -> tuple[str, ...]:
    """Statements that create the tables and indexes (each safe to run again)."""
    return (
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
        f"""
        CREATE TABLE IF NOT EXISTS {t.categories} (
            id TEXT COLLATE "C" PRIMARY KEY,
            name TEXT NOT NULL,
            parent_id TEXT COLLATE "C",
            path TEXT NOT NULL,
            path_vector TSVECTOR NOT NULL,
            path_words TEXT NOT NULL
        )
        """,
        f"CREATE INDEX IF NOT EXISTS {t.categories}_parent ON {t.categories} (parent_id)",
        f"""
        CREATE TABLE IF NOT EXISTS {t.closure} (
            ancestor TEXT COLLATE "C" NOT NULL,
            descendant TEXT COLLATE "C" NOT NULL,
            depth INTEGER NOT NULL,
            PRIMARY KEY (ancestor, descendant)
        )
        """,
        f"CREATE INDEX IF NOT EXISTS {t.closure}_descendant ON {t.closure} (descendant, depth)",
        # The position of ProductCreated orders products by age: the `newest` sort key.
        f"""
        CREATE TABLE IF NOT EXISTS {t.products} (
            created_position BIGINT PRIMARY KEY,
            id TEXT COLLATE "C" NOT NULL UNIQUE,
            sku TEXT NOT NULL,
            name TEXT NOT NULL,
            description TEXT NOT NULL,
            category_id TEXT COLLATE "C" NOT NULL,
            price_cents BIGINT NOT NULL,
            price TEXT NOT NULL,
            currency TEXT NOT NULL,
            stock BIGINT NOT NULL,
            status TEXT NOT NULL,
            bucket SMALLINT NOT NULL,
            doc_vector TSVECTOR NOT NULL,
            name_words TEXT NOT NULL,
            search TSVECTOR NOT NULL,
            fuzzy TEXT NOT NULL
        )
        """,
        f"CREATE INDEX IF NOT EXISTS {t.products}_search ON {t.products} USING GIN (search)",
        f"""
        CREATE INDEX IF NOT EXISTS {t.products}_fuzzy
            ON {t.products} USING GIN (fuzzy gin_trgm_ops)
        """,
        # Only active products are ever searched; these serve the category filter and
        # the price sorts and ranges.
        f"""
        CREATE INDEX IF NOT EXISTS {t.products}_category
            ON {t.products} (category_id, price_cents, id) WHERE status = 'active'
        """,
        f"""
        CREATE INDEX IF NOT EXISTS {t.products}_price
            ON {t.products} (price_cents, id) WHERE status = 'active'
        """,
        f"""
        CREATE TABLE IF NOT EXISTS {t.facets} (
            category_id TEXT COLLATE "C" NOT NULL,
            bucket SMALLINT NOT NULL,
            in_stock BOOLEAN NOT NULL,
            n BIGINT NOT NULL,
            PRIMARY KEY (category_id, bucket, in_stock)
        )
        """,
    )


class _Params:
    """Positional parameters of one statement, numbered as they are added."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any, cast: str = "") -> str:
        self.values.append(value)
        return f"${len(self.values)}{cast}"


# The product fields events change, and those the facet counts depend on.
_FIELDS = ("name", "description", "category_id", "price_cents", "price", "currency", "stock")
_FIELDS_AND_STATUS = (*_FIELDS, "status")

FacetKey = tuple[str, int, bool]


def document(name: str, sku: str, description: str) -> tuple[str, str]:
    """A product's own `tsvector` literal and the words of its name (for trigrams)."""
    name_words = words(name)
    vector = tsvector([(name_words, "A"), (words(sku), "B"), (words(description), "D")])
    return vector, " ".join(name_words)


def category_text(path: str) -> tuple[str, str]:
    """A category path's `tsvector` literal (to append to a product's) and its words."""
    path_words = words(path)
    return tsvector([(path_words, "C")], first=2), " ".join(path_words)


class PostgresProductSearchProjection(AsyncProjection["Connection"]):
    """Folds product, stock and category events into the PostgreSQL search model."""

    name = ProductSearchProjection.name
    version = ProductSearchProjection.version
    event_types = ProductSearchProjection.event_types

    def __init__(self) -> None:
        self.tables = SearchTables.named(table_prefix(self))

    async def setup(self, tx: Connection) -> None:
        for statement in schema(self.tables):
            await tx.execute(statement)

    async def apply(self, tx: Connection, event: StoredEvent) -> None:
        data: dict[str, Any] = event.data
        kind = event.type
        if kind == "CategoryCreated":
            await self._create_category(tx, event.aggregate_id, data["name"], data["parent_id"])
        elif kind == "CategoryRenamed":
            await self._rename_category(tx, event.aggregate_id, data["name"])
        elif kind == "ProductCreated":
            await self._create_product(tx, event.position, event.aggregate_id, data)
        elif kind == "ProductDetailsUpdated":
            changes = {k: data[k] for k in ("name", "description", "category_id")}
            await self._change(tx, event.aggregate_id, changes)
        elif kind == "PriceChanged":
            changes = {
                "price_cents": cents(data["price"]),
                "price": str(data["price"]),
                "currency": data["currency"],
            }
            await self._change(tx, event.aggregate_id, changes)
        elif kind == "StockAdjusted":
            await self._change(tx, event.aggregate_id, {"stock": int(data["stock"])})
        elif kind == "ProductDiscontinued":
            await self._change(tx, event.aggregate_id, {"status": "discontinued"})

    async def _create_category(
        self, tx: Connection, category_id: str, name: str, parent_id: str | None
    ) -> None:
        t = self.tables
        parent_path = ""
        if parent_id is not None:
            found = await tx.fetchval(f"SELECT path FROM {t.categories} WHERE id = $1", parent_id)
            parent_path = found or ""
        path = f"{parent_path}{PATH_SEPARATOR}{name}" if parent_path else name
        vector, path_words = category_text(path)
        await tx.execute(
            f"INSERT INTO {t.categories} (id, name, parent_id, path, path_vector, path_words)"
            " VALUES ($1, $2, $3, $4, $5::text::tsvector, $6) ON CONFLICT (id) DO UPDATE SET"
            " name = excluded.name, path = excluded.path, path_vector = excluded.path_vector,"
            " path_words = excluded.path_words",
            category_id,
            name,
            parent_id,
            path,
            vector,
            path_words,
        )
        await tx.execute(
            f"INSERT INTO {t.closure} (ancestor, descendant, depth) SELECT $1::text, $1::text, 0"
            f" UNION ALL SELECT ancestor, $1::text, depth + 1 FROM {t.closure}"
            " WHERE descendant = $2::text ON CONFLICT DO NOTHING",
            category_id,
            parent_id,
        )

    async def _rename_category(self, tx: Connection, category_id: str, name: str) -> None:
        """Rename, then rewrite the path of every category below and of their products."""
        t = self.tables
        await tx.execute(f"UPDATE {t.categories} SET name = $2 WHERE id = $1", category_id, name)
        paths = await tx.fetch(
            f"SELECT below.descendant, string_agg(k.name, $2 ORDER BY up.depth DESC)"
            f" FROM {t.closure} below JOIN {t.closure} up ON up.descendant = below.descendant"
            f" JOIN {t.categories} k ON k.id = up.ancestor"
            " WHERE below.ancestor = $1 GROUP BY below.descendant",
            category_id,
            PATH_SEPARATOR,
        )
        if not paths:
            return
        await tx.executemany(
            f"UPDATE {t.categories} SET path = $2, path_vector = $3::text::tsvector,"
            " path_words = $4 WHERE id = $1",
            [(row[0], row[1], *category_text(row[1])) for row in paths],
        )
        await tx.execute(
            f"UPDATE {t.products} p SET search = p.doc_vector || k.path_vector,"
            " fuzzy = concat_ws(' ', nullif(p.name_words, ''), nullif(k.path_words, ''))"
            f" FROM {t.categories} k WHERE k.id = p.category_id"
            " AND p.category_id = ANY($1::text[])",
            [row[0] for row in paths],
        )

    async def _create_product(
        self, tx: Connection, position: int, product_id: str, data: dict[str, Any]
    ) -> None:
        t = self.tables
        vector, name_words = document(data["name"], data["sku"], data["description"])
        price_cents = cents(data["price"])
        # One statement: the product, its text with its category's, and its facet count.
        await tx.execute(
            f"WITH k AS (SELECT path_vector, path_words FROM {t.categories} WHERE id = $6),"
            f" inserted AS (INSERT INTO {t.products} (created_position, id, sku, name,"
            " description, category_id, price_cents, price, currency, stock, status, bucket,"
            " doc_vector, name_words, search, fuzzy) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
            " $9, $10, 'active', $11, $12::text::tsvector, $13::text,"
            " $12::text::tsvector || coalesce((SELECT path_vector FROM k), ''::tsvector),"
            " concat_ws(' ', nullif($13::text, ''), nullif((SELECT path_words FROM k), '')))"
            " ON CONFLICT (id) DO NOTHING RETURNING category_id, bucket, stock > 0 AS in_stock)"
            f" INSERT INTO {t.facets} (category_id, bucket, in_stock, n)"
            " SELECT category_id, bucket, in_stock, 1 FROM inserted"
            " ON CONFLICT (category_id, bucket, in_stock)"
            f" DO UPDATE SET n = {t.facets}.n + excluded.n",
            position,
            product_id,
            data["sku"],
            data["name"],
            data["description"],
            data["category_id"],
            price_cents,
            str(data["price"]),
            data["currency"],
            int(data["stock"]),
            bucket(price_cents),
            vector,
            name_words,
        )

    async def _change(self, tx: Connection, product_id: str, changes: dict[str, Any]) -> None:
        """Change one product's fields, then its text and facet counts as they depend on them."""
        t = self.tables
        row = await tx.fetchrow(
            f"SELECT sku, {', '.join(_FIELDS_AND_STATUS)} FROM {t.products} WHERE id = $1",
            product_id,
        )
        if row is None:
            return
        before = dict(row)
        after = {**before, **changes}
        changed = [c for c in _FIELDS_AND_STATUS if after[c] != before[c]]
        if not changed:
            return
        param = _Params()
        assignments = [f"{c} = {param(after[c])}" for c in changed]
        if "price_cents" in changed:
            assignments.append(f"bucket = {param(bucket(after['price_cents']))}")
        doc, name_words = "doc_vector", "name_words"
        if "name" in changed or "description" in changed:
            vector, text = document(after["name"], after["sku"], after["description"])
            doc, name_words = param(vector, "::text::tsvector"), param(text, "::text")
            assignments += [f"doc_vector = {doc}", f"name_words = {name_words}"]
        if doc != "doc_vector" or "category_id" in changed:
            category = param(after["category_id"], "::text")
            path = f"(SELECT {{}} FROM {t.categories} WHERE id = {category})"
            assignments += [
                f"search = {doc} || coalesce({path.format('path_vector')}, ''::tsvector)",
                f"fuzzy = concat_ws(' ', nullif({name_words}, ''),"
                f" nullif({path.format('path_words')}, ''))",
            ]
        where = param(product_id)
        await tx.execute(
            f"UPDATE {t.products} SET {', '.join(assignments)} WHERE id = {where}", *param.values
        )
        await self._count(tx, _facet_deltas(before, after))

    async def _count(self, tx: Connection, deltas: dict[FacetKey, int]) -> None:
        if not deltas:
            return
        keys = list(deltas)
        await tx.execute(
            f"INSERT INTO {self.tables.facets} (category_id, bucket, in_stock, n)"
            " SELECT * FROM unnest($1::text[], $2::smallint[], $3::boolean[], $4::bigint[])"
            " ON CONFLICT (category_id, bucket, in_stock)"
            f" DO UPDATE SET n = {self.tables.facets}.n + excluded.n",
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
            [deltas[k] for k in keys],
        )


def _facet_deltas(before: dict[str, Any], after: dict[str, Any]) -> dict[FacetKey, int]:
    """How one product's change moves the facet counts (only active products count)."""
    deltas: dict[FacetKey, int] = {}
    for state, sign in ((before, -1), (after, 1)):
        if state["status"] == "active":
            key = (state["category_id"], bucket(state["price_cents"]), state["stock"] > 0)
            deltas[key] = deltas.get(key, 0) + sign
    return {key: n for key, n in deltas.items() if n}


TABLES = SearchTables.named(table_prefix(PostgresProductSearchProjection))
