"""Product search on PostgreSQL: the same answers as the SQLite FTS5 reads, from `tsvector`.

Validation, cursors and the answer's shape are every backend's (`rules`: `plan`, `cut`,
`result`), so both backends reject the same input with the same `InvalidInput` and page
the same way. Each search is one statement, one round trip: a statement sees one
snapshot, so its total, facets and page describe the same moment of the read model. It
returns a count of the matches per (category, price bucket), which gives the total and
both facets, the page (keyset: it seeks past the cursor's sort key) and the names of
the facet categories, each as JSON.

Matching. Text matches as in FTS5: every word of the search must begin a word of the
product's name, SKU, description or category path (a one-letter word must be a whole
word); words are split and folded as FTS5 does it
(`catalog.read_models.product_search.postgres_words`).
Relevance ranks by `ts_rank` with the weights of the SQLite reads' bm25 (name > SKU >
category path > description), so its order may differ from FTS5's; every other sort is
the same total order (sort key, then id in byte order).

Typo tolerance. Only when full text finds nothing, the search is run again with every
term of at least `FUZZY_MIN_CHARS` characters matched by trigram word similarity
(`pg_trgm`'s `<%`, at least `FUZZY_THRESHOLD`) against the words of the name and
category path; shorter terms still match as full text. So "shoos" finds "shoes", while a
search that finds anything exactly is never diluted by near misses. The same filters
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
from catalog.read_models.product_search.postgres_words import tsquery, words
from catalog.read_models.product_search.rules import (
    Counts,
    PlannedSearch,
    cut,
    nothing,
    plan,
    result,
    summary,
)
from catalog.read_models.queries import SearchProducts
from tandem.bus import QueryBus

if TYPE_CHECKING:
    from tandem.db.postgres import Connection, Pool

FUZZY_THRESHOLD = 0.5
FUZZY_MIN_CHARS = 3

# Sort key expressions after the relevance key, by effective sort (the id breaks ties).
_SORT_KEYS = {
    "price_asc": "p.price_cents",
    "price_desc": "p.price_cents",
    "newest": "p.created_position",
}


class _Params:
    """Positional parameters of one statement, numbered as they are added."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any, cast: str = "") -> str:
        self.values.append(value)
        return f"${len(self.values)}{cast}"


@dataclass(frozen=True)
class _Text:
    """How the search text matches: a `tsquery`, and trigram terms in the fallback."""

    query: str | None
    fuzzy: tuple[str, ...] = ()

    def clauses(self, param: _Params) -> list[str]:
        found = (
            [] if self.query is None else [f"p.search @@ {param(self.query, '::text::tsquery')}"]
        )
        return found + [f"{param(term, '::text')} <% p.fuzzy" for term in self.fuzzy]

    def rank(self, param: _Params) -> str:
        """The relevance key: ascending, best first, as the cursor's float."""
        if self.fuzzy:
            scores = " + ".join(
                f"word_similarity({param(term, '::text')}, p.fuzzy)" for term in self.fuzzy
            )
            return f"(-({scores}))::float8"
        return f"(-ts_rank(p.search, {param(self.query, '::text::tsquery')}))::float8"


def _fuzzy(terms: tuple[str, ...]) -> _Text | None:
    """The fallback for a search whose full text found nothing (None: no fallback)."""
    long = tuple(" ".join(words(t)) for t in terms if len(t) >= FUZZY_MIN_CHARS)
    if not long:
        return None
    short = tuple(t for t in terms if len(t) < FUZZY_MIN_CHARS)
    return _Text(tsquery(short) if short else None, long)


def _clauses(t: SearchTables, s: PlannedSearch, text: _Text | None, param: _Params) -> list[str]:
    """WHERE terms that select every match of `s`."""
    clauses = ["p.status = 'active'"]
    if text is not None:
        clauses += text.clauses(param)
    if s.category is not None:
        subtree = f"SELECT descendant FROM {t.closure} WHERE ancestor = {param(s.category)}"
        clauses.append(f"p.category_id IN ({subtree})")
    if s.in_stock is True:
        clauses.append("p.stock > 0")
    elif s.in_stock is False:
        clauses.append("p.stock = 0")
    if s.min_cents is not None:
        clauses.append(f"p.price_cents >= {param(s.min_cents, '::bigint')}")
    if s.max_cents is not None:
        clauses.append(f"p.price_cents <= {param(s.max_cents, '::bigint')}")
    return clauses


def _counts_sql(t: SearchTables, s: PlannedSearch, text: _Text | None, param: _Params) -> str:
    """Matches per (category, price bucket)."""
    if text is None and s.min_cents is None and s.max_cents is None:
        # Every filter left is a dimension of the kept counts: no product is read.
        clauses = ["fc.n > 0"]
        if s.category is not None:
            clauses.append(
                f"fc.category_id IN (SELECT descendant FROM {t.closure}"
                f" WHERE ancestor = {param(s.category)})"
            )
        if s.in_stock is not None:
            clauses.append(f"fc.in_stock = {param(s.in_stock)}")
        return (
            f"SELECT fc.category_id, fc.bucket, sum(fc.n)::bigint AS n FROM {t.facets} fc"
            f" WHERE {' AND '.join(clauses)} GROUP BY 1, 2"
        )
    return (
        f"SELECT p.category_id, p.bucket, count(*) AS n FROM {t.products} p"
        f" WHERE {' AND '.join(_clauses(t, s, text, param))} GROUP BY 1, 2"
    )


def _page_sql(t: SearchTables, s: PlannedSearch, text: _Text | None, param: _Params) -> str:
    """The page's rows (one more than the limit, to know if another page follows)."""
    # The sort `plan` resolved: relevance without search text is newest first.
    sort = s.order.name
    key = text.rank(param) if text is not None and sort == "relevance" else _SORT_KEYS[sort]
    clauses = _clauses(t, s, text, param)
    if s.after is not None:
        comparison = "<" if s.order.descending else ">"
        key_type = "::float8" if sort == "relevance" else "::bigint"
        after = f"({param(s.after[0], key_type)}, {param(s.after[1], '::text')})"
        clauses.append(f"({key}, p.id) {comparison} {after}")
    return (
        f"SELECT {key} AS sort_key, p.id, p.sku, p.name, p.price, p.currency, p.stock,"
        f" p.category_id, c.name AS category_name, p.status FROM {t.products} p"
        f" LEFT JOIN {t.categories} c ON c.id = p.category_id WHERE {' AND '.join(clauses)}"
        f" ORDER BY sort_key{_direction(s)}, p.id{_direction(s)} LIMIT {param(s.limit + 1)}"
    )


def _direction(s: PlannedSearch) -> str:
    return " DESC" if s.order.descending else ""


def _statement(t: SearchTables, s: PlannedSearch, text: _Text | None) -> tuple[str, list[Any]]:
    """One statement answering the whole search: whether the category exists, the counts,
    the page and the names of the facet categories, as of one snapshot (a statement
    sees one), in one round trip."""
    param = _Params()
    known = "true"
    if s.category is not None:
        known = f"EXISTS (SELECT 1 FROM {t.categories} WHERE id = {param(s.category)})"
    counts = _counts_sql(t, s, text, param)
    page = _page_sql(t, s, text, param)
    parent = "IS NULL" if s.category is None else f"= {param(s.category)}"
    order = f"pg.sort_key{_direction(s)}, pg.id{_direction(s)}"
    sql = (
        f"SELECT {known} AS known,"
        f" (SELECT coalesce(json_agg(json_build_array(c.category_id, c.bucket, c.n)), '[]')"
        f"  FROM ({counts}) c)::text AS counts,"
        f" (SELECT coalesce(json_agg(row_to_json(pg) ORDER BY {order}), '[]')"
        f"  FROM ({page}) pg)::text AS page,"
        f" (SELECT coalesce(json_agg(json_build_array(cl.descendant, k.id, k.name)), '[]')"
        f"  FROM {t.categories} k JOIN {t.closure} cl ON cl.ancestor = k.id"
        f"  WHERE k.parent_id {parent})::text AS children"
    )
    return sql, param.values


@dataclass(frozen=True)
class _Answer:
    known: bool
    counts: Counts
    page: list[dict[str, Any]]
    children: dict[str, tuple[str, str]]


async def _ask(conn: Connection, t: SearchTables, s: PlannedSearch, text: _Text | None) -> _Answer:
    sql, values = _statement(t, s, text)
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
    conn: Connection, t: SearchTables, s: PlannedSearch, fuzzy: _Text
) -> _Answer:
    """The trigram fallback: its similarity threshold is a setting of its transaction."""
    async with conn.transaction(readonly=True):
        await conn.execute(
            "SELECT set_config('pg_trgm.word_similarity_threshold', $1, true)",
            str(FUZZY_THRESHOLD),
        )
        return await _ask(conn, t, s, fuzzy)


async def run_search(
    conn: Connection, s: PlannedSearch, t: SearchTables = TABLES
) -> dict[str, Any]:
    """Run a planned search on a connection to the read database: one statement, and a
    second (the trigram fallback) only when the full text matches nothing."""
    query = tsquery(s.terms) if s.terms else None
    if s.terms and query is None:
        answer = _Answer(True, [], [], {})  # no word full text could match
        if s.category is not None:
            found = await conn.fetchval(f"SELECT 1 FROM {t.categories} WHERE id = $1", s.category)
            answer = _Answer(found is not None, [], [], {})
    else:
        answer = await _ask(conn, t, s, _Text(query) if s.terms else None)
    if not answer.known:
        return nothing()
    if not answer.counts and s.terms:
        fuzzy = _fuzzy(s.terms)
        if fuzzy is not None:
            answer = await _fuzzy_answer(conn, t, s, fuzzy)
    if not answer.counts:
        return nothing()
    page, next_cursor = cut(s, answer.page, lambda row: (row["sort_key"], row["id"]))
    return result([summary(row) for row in page], answer.counts, next_cursor, answer.children)


class PostgresSearchReads:
    """Answers `SearchProducts` from the PostgreSQL product-search read model."""

    def __init__(self, pool: Pool, tables: SearchTables = TABLES) -> None:
        self._pool = pool
        self._tables = tables

    async def search(self, query: SearchProducts) -> dict[str, Any]:
        # Validation comes first, so bad input costs no connection.
        planned = plan(query)
        async with self._pool.acquire() as conn:
            return await run_search(conn, planned, self._tables)

    def register(self, bus: QueryBus) -> None:
        bus.register(SearchProducts, self.search, read_model=PostgresProductSearchProjection.name)
