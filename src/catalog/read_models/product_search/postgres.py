"""Product search on PostgreSQL: the SQLite search model's facts, in `tsvector` and trigrams.

The same events give the same products, categories and facet counts as
`catalog.read_models.product_search.sqlite` (its name and event types are reused), so
`catalog.read_models.product_search.postgres_reads` answers every search exactly as the
SQLite reads do. Its version is its own: a change of these tables' layout rebuilds the
PostgreSQL copy only, and the SQLite one keeps its version.

- Full text: `search`, a `tsvector` with a GIN index, holds the words of the name
  (weight A), SKU (B), description (D) and category path (C), split by
  `catalog.read_models.product_search.postgres_words` exactly as FTS5 splits them. The
  path's part is
  kept per category (`path_vector`) and appended to the product's own (`doc_vector`), so
  a category rename rewrites `search` in one UPDATE, without reading product text.
- Typo tolerance: `fuzzy` (the name's and category path's words) has a GIN trigram index
  (`pg_trgm`), for the reads' fallback when full text finds nothing.
- Category subtree: a closure table, one row per (ancestor, descendant), self included.
- Facets: counts per (category, price bucket, stock state) of active products, so a
  search without text or price range reads no product rows.

A batch is folded in a few statements, whatever its size (`apply_batch`): between two
category events (which run as they come, since they rewrite products' text), one SELECT
reads the rows the product events touch, the events are folded in memory, and one
INSERT, one UPDATE and one facet upsert write the outcome, which is exactly what
applying the events one by one would leave (see `_ProductRun`).

Every table name starts with `product_search_v2_` (`table_prefix`): a later version
builds its tables beside these. Their DDL is `postgres_schema`'s; ids and categories use
the "C" collation, so `ORDER BY id` is byte order, as in SQLite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from catalog.read_models.money import cents
from catalog.read_models.product_search.postgres_schema import SearchTables, schema
from catalog.read_models.product_search.postgres_words import tsvector, words
from catalog.read_models.product_search.rules import PATH_SEPARATOR, bucket
from catalog.read_models.product_search.sqlite import ProductSearchProjection
from tandem.messages import StoredEvent
from tandem.projections.base import AsyncProjection
from tandem.stores.postgres import table_prefix

if TYPE_CHECKING:
    from tandem.db.postgres import Connection


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
    # 1 was the SQLite model's version, shared until the tables parted ways.
    version = 2
    event_types = ProductSearchProjection.event_types

    def __init__(self) -> None:
        self.tables = SearchTables.named(table_prefix(self))

    async def setup(self, tx: Connection) -> None:
        for statement in schema(self.tables):
            await tx.execute(statement)

    async def apply(self, tx: Connection, event: StoredEvent) -> None:
        await self.apply_batch(tx, [event])

    async def apply_batch(self, tx: Connection, events: list[StoredEvent]) -> None:
        """Apply the events in order: product events in runs, category events alone."""
        run = _ProductRun(self.tables)
        for event in events:
            kind = event.type
            if kind == "CategoryCreated" or kind == "CategoryRenamed":
                await run.write(tx)
                run = _ProductRun(self.tables)
                data = event.data
                if kind == "CategoryCreated":
                    await self._create_category(
                        tx, event.aggregate_id, data["name"], data["parent_id"]
                    )
                else:
                    await self._rename_category(tx, event.aggregate_id, data["name"])
            else:
                run.add(event)
        await run.write(tx)

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


def _facet_deltas(before: dict[str, Any], after: dict[str, Any]) -> dict[FacetKey, int]:
    """How one product's change moves the facet counts (only active products count)."""
    deltas: dict[FacetKey, int] = {}
    for state, sign in ((before, -1), (after, 1)):
        if state["status"] == "active":
            key = (state["category_id"], bucket(state["price_cents"]), state["stock"] > 0)
            deltas[key] = deltas.get(key, 0) + sign
    return {key: n for key, n in deltas.items() if n}


def _changes(event: StoredEvent) -> dict[str, Any]:
    """The product fields a product event (other than its creation) sets."""
    data: dict[str, Any] = event.data
    kind = event.type
    if kind == "ProductDetailsUpdated":
        return {k: data[k] for k in ("name", "description", "category_id")}
    if kind == "PriceChanged":
        return {
            "price_cents": cents(data["price"]),
            "price": str(data["price"]),
            "currency": data["currency"],
        }
    if kind == "StockAdjusted":
        return {"stock": int(data["stock"])}
    return {"status": "discontinued"}  # ProductDiscontinued


def _facts(row: dict[str, Any]) -> tuple[Any, ...]:
    """A product's stored fields, in `_FIELDS_AND_STATUS` order, then its price bucket."""
    return (*(row[c] for c in _FIELDS_AND_STATUS), bucket(row["price_cents"]))


def _arrays(records: list[tuple[Any, ...]]) -> list[list[Any]]:
    """Rows turned into one array per column, for a statement that `unnest`s them."""
    return [list(column) for column in zip(*records, strict=True)]


class _ProductRun:
    """Product events between two category events, folded in memory, written in bulk.

    Applied one by one, each event would read its product's row, change the fields it
    sets, recompute the row's own text when its name or description changed and its
    searchable text (which appends its category's path) when that text or its category
    changed, and move the facet counts from the row's old (category, bucket, stock)
    cell to its new one. With the categories fixed for the run, the outcome depends
    only on each product's final fields and on whether any event recomputed its text,
    so `write` keeps exactly that: the final row of every product, flags for its text,
    and the facet deltas summed per cell (a cell any event touched is written even when
    its deltas cancel, as one-by-one upserts would have created it).
    """

    def __init__(self, tables: SearchTables) -> None:
        self.tables = tables
        self.events: list[StoredEvent] = []

    def add(self, event: StoredEvent) -> None:
        self.events.append(event)

    async def write(self, tx: Connection) -> None:
        if not self.events:
            return
        t = self.tables
        ids = list(dict.fromkeys(e.aggregate_id for e in self.events))
        rows = await tx.fetch(
            f"SELECT id, sku, {', '.join(_FIELDS_AND_STATUS)} FROM {t.products}"
            " WHERE id = ANY($1::text[])",
            ids,
        )
        initial: dict[str, dict[str, Any]] = {row["id"]: dict(row) for row in rows}
        state = dict(initial)
        created: dict[str, int] = {}  # product id -> position of its creation
        changed: set[str] = set()
        own_text: set[str] = set()  # name or description changed: doc_vector recomputed
        retext: set[str] = set()  # doc_vector or category changed: search recomputed
        deltas: dict[FacetKey, int] = {}
        for event in self.events:
            pid = event.aggregate_id
            before = state.get(pid)
            if event.type == "ProductCreated":
                if before is not None:
                    continue  # ON CONFLICT (id) DO NOTHING
                data = event.data
                price_cents = cents(data["price"])
                state[pid] = {
                    "id": pid,
                    "sku": data["sku"],
                    "name": data["name"],
                    "description": data["description"],
                    "category_id": data["category_id"],
                    "price_cents": price_cents,
                    "price": str(data["price"]),
                    "currency": data["currency"],
                    "stock": int(data["stock"]),
                    "status": "active",
                }
                created[pid] = event.position
                key = (data["category_id"], bucket(price_cents), int(data["stock"]) > 0)
                deltas[key] = deltas.get(key, 0) + 1
                continue
            if before is None:
                continue
            after = {**before, **_changes(event)}
            diff = [c for c in _FIELDS_AND_STATUS if after[c] != before[c]]
            if not diff:
                continue
            state[pid] = after
            changed.add(pid)
            if "name" in diff or "description" in diff:
                own_text.add(pid)
                retext.add(pid)
            elif "category_id" in diff:
                retext.add(pid)
            for key, n in _facet_deltas(before, after).items():
                deltas[key] = deltas.get(key, 0) + n
        await self._insert(tx, [(created[pid], state[pid]) for pid in created])
        # A row whose fields came back to where they were is left alone, unless an event
        # recomputed its text (which may differ from what the row holds).
        updated = [
            pid
            for pid in sorted(changed - created.keys())
            if pid in retext or state[pid] != initial[pid]
        ]
        await self._update(tx, [(state[pid], pid in own_text, pid in retext) for pid in updated])
        await self._count(tx, deltas)

    async def _insert(self, tx: Connection, rows: list[tuple[int, dict[str, Any]]]) -> None:
        """Insert the new products, with their own text and their category's."""
        if not rows:
            return
        t = self.tables
        records = []
        for position, row in sorted(rows, key=lambda r: r[0]):
            vector, name_words = document(row["name"], row["sku"], row["description"])
            records.append((position, row["id"], row["sku"], *_facts(row), vector, name_words))
        await tx.execute(
            f"INSERT INTO {t.products} (created_position, id, sku, name, description,"
            " category_id, price_cents, price, currency, stock, status, bucket, doc_vector,"
            " name_words, search, fuzzy)"
            " SELECT u.position, u.id, u.sku, u.name, u.description, u.category_id,"
            " u.price_cents, u.price, u.currency, u.stock, u.status, u.bucket,"
            " u.doc::tsvector, u.name_words,"
            " u.doc::tsvector || coalesce(k.path_vector, ''::tsvector),"
            " concat_ws(' ', nullif(u.name_words, ''), nullif(k.path_words, ''))"
            " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],"
            " $6::text[], $7::bigint[], $8::text[], $9::text[], $10::bigint[], $11::text[],"
            " $12::smallint[], $13::text[], $14::text[])"
            " AS u(position, id, sku, name, description, category_id, price_cents, price,"
            " currency, stock, status, bucket, doc, name_words)"
            f" LEFT JOIN {t.categories} k ON k.id = u.category_id"
            " ORDER BY u.position",
            *_arrays(records),
        )

    async def _update(self, tx: Connection, rows: list[tuple[dict[str, Any], bool, bool]]) -> None:
        """Write each changed product's final fields; `doc` and `name_words` are NULL
        (kept) unless its own text was recomputed, and `search` and `fuzzy` are kept
        unless `retext`."""
        if not rows:
            return
        t = self.tables
        records = []
        for row, own_text, retext in rows:
            vector: str | None = None
            name_words: str | None = None
            if own_text:
                vector, name_words = document(row["name"], row["sku"], row["description"])
            records.append((row["id"], *_facts(row), vector, name_words, retext))
        await tx.execute(
            f"UPDATE {t.products} p SET name = u.name, description = u.description,"
            " category_id = u.category_id, price_cents = u.price_cents, price = u.price,"
            " currency = u.currency, stock = u.stock, status = u.status, bucket = u.bucket,"
            " doc_vector = coalesce(u.doc::tsvector, p.doc_vector),"
            " name_words = coalesce(u.name_words, p.name_words),"
            " search = CASE WHEN u.retext THEN coalesce(u.doc::tsvector, p.doc_vector)"
            " || coalesce(k.path_vector, ''::tsvector) ELSE p.search END,"
            " fuzzy = CASE WHEN u.retext THEN concat_ws(' ',"
            " nullif(coalesce(u.name_words, p.name_words), ''), nullif(k.path_words, ''))"
            " ELSE p.fuzzy END"
            " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[],"
            " $6::text[], $7::text[], $8::bigint[], $9::text[], $10::smallint[],"
            " $11::text[], $12::text[], $13::boolean[])"
            " AS u(id, name, description, category_id, price_cents, price, currency, stock,"
            " status, bucket, doc, name_words, retext)"
            f" LEFT JOIN {t.categories} k ON k.id = u.category_id"
            " WHERE p.id = u.id",
            *_arrays(records),
        )

    async def _count(self, tx: Connection, deltas: dict[FacetKey, int]) -> None:
        if not deltas:
            return
        facets = self.tables.facets
        keys = sorted(deltas)
        await tx.execute(
            f"INSERT INTO {facets} (category_id, bucket, in_stock, n)"
            " SELECT * FROM unnest($1::text[], $2::smallint[], $3::boolean[], $4::bigint[])"
            " ON CONFLICT (category_id, bucket, in_stock)"
            f" DO UPDATE SET n = {facets}.n + excluded.n",
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
            [deltas[k] for k in keys],
        )


TABLES = SearchTables.named(table_prefix(PostgresProductSearchProjection))
