"""Product search on PostgreSQL: the SQLite search model's facts, in `tsvector` and trigrams.

The same events give the same products, categories and facet counts as
`catalog.read_models.product_search.sqlite` (its name and event types are reused), so
`catalog.read_models.product_search.postgres_reads` answers every search exactly as the
SQLite reads do. Its version is its own: a change of these tables' layout rebuilds the
PostgreSQL copy only, and the SQLite one keeps its version.

- Full text: `search`, a `tsvector` with a GIN index, holds the words of the name
  (weight A), SKU (B), description (D) and category path (C), split by
  `catalog.read_models.product_search.postgres_words` exactly as FTS5 splits them. The
  path's part is kept per category (`path_vector`) and appended to the product's own
  (`doc_vector`), so a category rename rewrites `search` in one UPDATE, without reading
  product text.
- Matches: `search` lives in a row of its own (`matches`) beside what a search with
  text counts and sorts by (category, price, bucket, stock, status), so the GIN scan's
  rows are all a search reads per match. Its only other index is the key, so the many
  price and stock changes are HOT updates of it, and never add GIN entries.
- Offers: price, stock, status and price bucket again, in a narrow row (`offers`) whose
  indexes serve the sorts and price ranges of searches without text. All three product
  rows are keyed by the position of the product's creation.
- Typo tolerance: `fuzzy` (the name's and category path's words) has a GIN trigram index
  (`pg_trgm`), for the reads' fallback when full text finds nothing.
- Category subtree: a closure table, one row per (ancestor, descendant), self included;
  and in each category's `path_vector`, a lexeme per category on its path, itself
  included (`postgres_words.category_lexeme`), so every product carries the lexemes of
  its category's ancestors and a text search narrowed to a category is one GIN scan.
  Category ids never change parents, so a category's lexemes are fixed at its creation;
  a product moved to another category takes the new category's with its path.
- Facets: counts per (category, price bucket, stock state) of active products, so a
  search without text or price range reads no product rows.
- Vocabulary: every lexeme of the text indexed (`postgres_vocabulary`), so a search
  turns a word prefix into the exact lexemes that begin with it.
- Scope changes: which cached answers each batch may have altered, recorded with the
  batch (`postgres_scopes`, after `catalog.read_models.scopes`).

A batch is folded in a few statements, whatever its size (`apply_batch`): between two
category events (which run as they come, since they rewrite products' text), the
product events are folded in memory and written in bulk (`postgres_products`), which is
exactly what applying them one by one would leave.

Every table name starts with `product_search_v4_` (`table_prefix`): a later version
builds its tables beside these. Their DDL is `postgres_schema`'s; ids and categories use
the "C" collation, so `ORDER BY id` is byte order, as in SQLite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from catalog.read_models.product_search.postgres_products import ProductRun, write_search
from catalog.read_models.product_search.postgres_schema import SearchTables, schema
from catalog.read_models.product_search.postgres_scopes import BatchScopes, trim
from catalog.read_models.product_search.postgres_vocabulary import remember
from catalog.read_models.product_search.postgres_words import (
    category_lexeme,
    lexeme_text,
    tsvector,
    words,
)
from catalog.read_models.product_search.rules import PATH_SEPARATOR
from catalog.read_models.product_search.sqlite import ProductSearchProjection
from catalog.read_models.scopes import RETAINED_BATCHES
from tandem.messages import StoredEvent
from tandem.projections.base import AsyncProjection
from tandem.stores.postgres import table_prefix

# Rows a batch records, counted generously (a scope per category above what it changed).
ROWS_PER_BATCH = 16

if TYPE_CHECKING:
    from tandem.db.postgres import Connection


def category_text(path: str, ancestors: list[str]) -> tuple[str, str]:
    """A category's `tsvector` literal (to append to a product's): its path's words and
    the lexemes of its ancestors, itself included; and the path's words."""
    path_words = words(path)
    tags = [category_lexeme(a) for a in ancestors]
    return tsvector([(path_words, "C")], first=2, tags=tags), " ".join(path_words)


def _lexemes(text: str) -> list[str]:
    return [lexeme_text(w) for w in words(text)]


class PostgresProductSearchProjection(AsyncProjection["Connection"]):
    """Folds product, stock and category events into the PostgreSQL search model."""

    name = ProductSearchProjection.name
    # 1 was the SQLite model's version, shared until the tables parted ways; 3 moved
    # the indexed text to the match rows; 4 records offer changes with word keys, which
    # an API process of an earlier version would not read as touching its answers.
    version = 4
    event_types = ProductSearchProjection.event_types
    # Scope changes beyond the newest `retained_rows` are trimmed, by every
    # `trim_every`-th batch this instance folds (its first one included).
    retained_rows = RETAINED_BATCHES * ROWS_PER_BATCH
    trim_every = 64

    def __init__(self) -> None:
        self.tables = SearchTables.named(table_prefix(self))
        self._batches = 0

    async def setup(self, tx: Connection) -> None:
        for statement in schema(self.tables):
            await tx.execute(statement)

    async def apply(self, tx: Connection, event: StoredEvent) -> None:
        await self.apply_batch(tx, [event])

    async def apply_batch(self, tx: Connection, events: list[StoredEvent]) -> None:
        """Apply the events in order: product events in runs, category events alone;
        then record the scopes the batch touched, and now and then trim old ones."""
        if not events:
            return
        scopes = BatchScopes()
        run = ProductRun(self.tables, scopes)
        for event in events:
            kind = event.type
            if kind == "CategoryCreated" or kind == "CategoryRenamed":
                await run.write(tx)
                run = ProductRun(self.tables, scopes)
                scopes.everything(event.position)
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
        await scopes.write(tx, self.tables)
        if self._batches % self.trim_every == 0:
            await trim(tx, self.tables, self.retained_rows)
        self._batches += 1

    async def _create_category(
        self, tx: Connection, category_id: str, name: str, parent_id: str | None
    ) -> None:
        t = self.tables
        await tx.execute(
            f"INSERT INTO {t.closure} (ancestor, descendant, depth) SELECT $1::text, $1::text, 0"
            f" UNION ALL SELECT ancestor, $1::text, depth + 1 FROM {t.closure}"
            " WHERE descendant = $2::text ON CONFLICT DO NOTHING",
            category_id,
            parent_id,
        )
        row = await tx.fetchrow(
            f"SELECT (SELECT path FROM {t.categories} WHERE id = $2::text) AS parent_path,"
            f" array(SELECT ancestor FROM {t.closure} WHERE descendant = $1::text"
            " ORDER BY depth) AS ancestors",
            category_id,
            parent_id,
        )
        assert row is not None
        parent_path = row["parent_path"] or ""
        path = f"{parent_path}{PATH_SEPARATOR}{name}" if parent_path else name
        vector, path_words = category_text(path, row["ancestors"])
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
        await remember(tx, t.vocabulary, _lexemes(name))

    async def _rename_category(self, tx: Connection, category_id: str, name: str) -> None:
        """Rename, then rewrite the path of every category below and of their products."""
        t = self.tables
        await tx.execute(f"UPDATE {t.categories} SET name = $2 WHERE id = $1", category_id, name)
        await remember(tx, t.vocabulary, _lexemes(name))
        paths = await tx.fetch(
            f"SELECT below.descendant, string_agg(k.name, $2 ORDER BY up.depth DESC),"
            " array_agg(up.ancestor ORDER BY up.depth)"
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
            [(row[0], row[1], *category_text(row[1], row[2])) for row in paths],
        )
        below = [row[0] for row in paths]
        await tx.execute(
            f"UPDATE {t.products} p"
            " SET fuzzy = concat_ws(' ', nullif(p.name_words, ''), nullif(k.path_words, ''))"
            f" FROM {t.categories} k WHERE k.id = p.category_id"
            " AND p.category_id = ANY($1::text[])",
            below,
        )
        await write_search(tx, t, "p.category_id = ANY($1::text[])", below)


TABLES = SearchTables.named(table_prefix(PostgresProductSearchProjection))
