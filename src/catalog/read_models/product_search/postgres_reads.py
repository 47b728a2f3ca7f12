"""Product search on PostgreSQL: the same answers as the SQLite FTS5 reads, from `tsvector`.

Validation, cursors and the answer's shape are every backend's (`rules`: `plan`, `cut`,
`result`), so both backends reject the same input with the same `InvalidInput` and page
the same way. Each search is one statement, one round trip (`postgres_statement`): a
statement sees one snapshot, so its total, facets and page describe the same moment of
the read model.

Matching. Text matches as in FTS5: every word of the search must begin a word of the
product's name, SKU, description or category path (a one-letter word must be a whole
word); words are split and folded as FTS5 does it
(`catalog.read_models.product_search.postgres_words`), and a prefix is looked up as the
exact words of the model's vocabulary that begin with it (`postgres_vocabulary`).
Relevance ranks by `ts_rank` with the weights of the SQLite reads' bm25 (name > SKU >
category path > description), so its order may differ from FTS5's; every other sort is
the same total order (sort key, then id in byte order).

Typo tolerance (`typos`, the rule the SQLite reads share). Only when full text finds
nothing, the search is run again with every long term matched by trigram word similarity
(`pg_trgm`'s `<%`, at least `typos.THRESHOLD`) against the words of the name and category
path (`fuzzy`); shorter terms still match as full text. So "shoos" finds "shoes", while
a search that finds anything exactly is never diluted by near misses. The same filters
apply; relevance then ranks by summed similarity.

    reads = PostgresSearchReads(pool)
    page = await reads.search(SearchProducts(q="trail run", in_stock=True, sort="price_asc"))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from catalog.read_models.product_search.postgres import TABLES, PostgresProductSearchProjection
from catalog.read_models.product_search.postgres_schema import SearchTables
from catalog.read_models.product_search.postgres_scopes import read_scope_changes
from catalog.read_models.product_search.postgres_statement import Text, statement
from catalog.read_models.product_search.postgres_words import query_terms
from catalog.read_models.product_search.rules import (
    Counts,
    PlannedSearch,
    approximate,
    cut,
    nothing,
    plan,
    result,
    summary,
)
from catalog.read_models.product_search.typos import THRESHOLD, typo_terms
from catalog.read_models.queries import SearchProducts
from catalog.read_models.scopes import ScopeChanges
from catalog.read_models.shapes import SearchPage
from tandem.bus import QueryBus
from tandem.stores.postgres import tables_ready

if TYPE_CHECKING:
    from tandem.db.postgres import Connection, Pool


def _fuzzy(terms: tuple[str, ...]) -> Text | None:
    """The fallback for a search whose full text found nothing (None: no fallback)."""
    typos = typo_terms(terms)
    if typos is None:
        return None
    return Text(query_terms(typos.exact) or (), typos.similar)


@dataclass(frozen=True)
class _Answer:
    known: bool
    counts: Counts
    page: list[dict[str, Any]]
    children: dict[str, tuple[str, str]]


async def _ask(conn: Connection, t: SearchTables, s: PlannedSearch, text: Text | None) -> _Answer:
    sql, values = statement(t, s, text)
    row = await conn.fetchrow(sql, *values)
    assert row is not None
    counts = [(str(c), int(b), int(n)) for c, b, n in orjson.loads(row["counts"])]
    page: list[dict[str, Any]] = orjson.loads(row["page"])
    if s.order.name == "relevance":
        for item in page:  # JSON writes a whole float8 without its point
            item["sort_key"] = float(item["sort_key"])
    children = {d: (i, n) for d, i, n in orjson.loads(row["children"])}
    return _Answer(bool(row["known"]), counts, page, children)


async def _fuzzy_answer(
    conn: Connection, t: SearchTables, s: PlannedSearch, fuzzy: Text
) -> _Answer:
    """The trigram fallback: its similarity threshold is a setting of its transaction."""
    async with conn.transaction(readonly=True):
        await conn.execute(
            "SELECT set_config('pg_trgm.word_similarity_threshold', $1, true)",
            str(THRESHOLD),
        )
        return await _ask(conn, t, s, fuzzy)


async def run_search(conn: Connection, s: PlannedSearch, t: SearchTables = TABLES) -> SearchPage:
    """Run a planned search on a connection to the read database: one statement, and a
    second (the trigram fallback) only when the full text matches nothing."""
    query = query_terms(s.terms) if s.terms else None
    if s.terms and query is None:
        answer = _Answer(True, [], [], {})  # no word full text could match
        if s.category is not None:
            found = await conn.fetchval(f"SELECT 1 FROM {t.categories} WHERE id = $1", s.category)
            answer = _Answer(found is not None, [], [], {})
    else:
        answer = await _ask(conn, t, s, Text(query) if query else None)
    if not answer.known:
        return nothing()
    fuzzy = _fuzzy(s.terms) if not answer.counts and s.terms else None
    if fuzzy is not None:
        answer = await _fuzzy_answer(conn, t, s, fuzzy)
    if not answer.counts:
        found = nothing()
    else:
        page, next_cursor = cut(s, answer.page, lambda row: (row["sort_key"], row["id"]))
        items = [summary(row) for row in page]
        found = result(items, answer.counts, next_cursor, answer.children)
    return found if fuzzy is None else approximate(found)


class PostgresSearchReads:
    """Answers `SearchProducts` from the PostgreSQL product-search read model, and tells
    an answer cache which answers the model's changes may have altered.

    `tables` and `checkpoint` (the name of its checkpoint) address one stored copy of
    the model; the live one of this version by default.
    """

    def __init__(
        self,
        pool: Pool,
        tables: SearchTables = TABLES,
        checkpoint: str = PostgresProductSearchProjection.name,
    ) -> None:
        self._pool = pool
        self._tables = tables
        self._checkpoint = checkpoint

    async def search(self, query: SearchProducts) -> SearchPage:
        # Validation comes first, so bad input costs no connection.
        planned = plan(query)
        with tables_ready(PostgresProductSearchProjection.name):
            async with self._pool.acquire() as conn:
                return await run_search(conn, planned, self._tables)

    async def scope_changes(self, after: int | None = None) -> ScopeChanges:
        """The scopes changed past the cursor `after`, with the model's checkpoint, read
        in one snapshot (see `catalog.read_models.scopes`)."""
        async with self._pool.acquire() as conn:
            return await read_scope_changes(conn, self._tables, self._checkpoint, after)

    def register(self, bus: QueryBus) -> None:
        bus.register(SearchProducts, self.search, read_model=PostgresProductSearchProjection.name)
