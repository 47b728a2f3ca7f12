"""Product search: full text, filters, facets, sorts and keyset pagination on SQLite FTS5.

A search runs in one read transaction, so its parts agree with each other: a count of
every match per (category, price bucket), which yields the total and both facets; the
page, which seeks past the cursor's sort key instead of skipping rows with OFFSET; the
display fields of the page's rows alone; and the names of the facet categories. A text
search gets its counts and its page from a single walk over the FTS matches. Validation,
sorts, cursors and the answer's shape are every backend's (`rules`); only the SQL is
this store's.

    reads = ProductSearchReads(store.reader)
    page = await reads.search(SearchProducts(q="trail run", in_stock=True, sort="price_asc"))
    more = await reads.search(
        SearchProducts(q="trail run", in_stock=True, sort="price_asc", cursor=page["next_cursor"])
    )
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson

from catalog.domain.errors import InvalidInput
from catalog.read_models.product_search.rules import (
    Counts,
    Order,
    PlannedSearch,
    approximate,
    bucket,
    bucket_sql,
    cut,
    nothing,
    plan,
    result,
)
from catalog.read_models.product_search.sqlite import ProductSearchProjection, category_token
from catalog.read_models.product_search.sqlite_match import prefixes
from catalog.read_models.product_search.sqlite_scoping import SCOPES
from catalog.read_models.product_search.sqlite_typos import candidates
from catalog.read_models.product_search.typos import Typos, fuzzy_words, typo_terms
from catalog.read_models.queries import SearchProducts
from catalog.read_models.scopes import ScopeChanges
from catalog.read_models.shapes import ProductSummary, SearchPage
from tandem.bus import QueryBus
from tandem.db.sqlite import SqliteReader, transaction

# Up to this many matches, sorting them all is cheaper than scanning for a page of them.
_FEW = 2_000

# Name matches count most, then SKU, then the category path, then the description; the
# filter tokens are not text and must not move the score.
_BM25 = "bm25(ps_fts, 10.0, 1.0, 4.0, 2.0, 0.0)"

# The key expressions of each sort (as `plan` resolved it), the last one the tie-break.
_KEYS: dict[str, tuple[str, ...]] = {
    "relevance": (_BM25, "p.id"),
    "price_asc": ("p.price_cents", "p.id"),
    "price_desc": ("p.price_cents", "p.id"),
    "newest": ("p.created_position", "p.id"),
}


# The display fields of a product (`_summary`), and the tables they come from.
_SUMMARY_COLUMNS = (
    *("p.id", "t.sku", "t.name", "p.price", "p.currency", "p.in_stock", "p.stock"),
    *("p.category_id", "c.name", "p.status"),
)
_SUMMARY_SELECT = ", ".join(_SUMMARY_COLUMNS)
_SUMMARY_TABLES = (
    "ps_products p JOIN ps_product_text t ON t.created_position = p.created_position"
    " LEFT JOIN ps_categories c ON c.id = p.category_id"
)


def _order_by(order: Order, keys: tuple[str, ...] | None = None) -> str:
    """ORDER BY terms of a sort, on its own key expressions or on `keys` naming them."""
    direction = " DESC" if order.descending else ""
    return ", ".join(f"{key}{direction}" for key in keys or _KEYS[order.name])


def _matches(
    s: PlannedSearch,
    category_key: int | None,
    order: Order | None,
    *,
    few: bool = False,
    text: str | None = None,
) -> tuple[str, list[str], list[Any]]:
    """FROM clause, WHERE terms and parameters that select every match of `s`.

    The plan is spelled out rather than left to the planner, which has no statistics
    on a read model that is only ever appended to: text searches walk the FTS matches
    (category and stock are FTS tokens there); others read a covering index, or the
    table backwards for newest first. `few` says the matches are known to be few, so
    sorting them beats scanning the table until a page of them turns up. `text` is the
    MATCH text of a search with terms (by default, every term as a word prefix).
    """
    clauses = ["p.status = 'active'"]
    params: list[Any] = []
    if s.terms:
        parts = [text or prefixes(s.terms)]
        if category_key is not None:
            parts.append(f'filters : "{category_token(category_key)}"')
        # Stock is checked on the matches' rows, not with the stock tokens the index
        # also holds: nearly every product is in stock, and intersecting with a posting
        # list that long took 40% of a search (the rows are read anyway). The rows are
        # the narrow `ps_matches`, whose category is a key (`_named` gives its id).
        source = "ps_fts CROSS JOIN ps_matches p ON p.created_position = ps_fts.rowid"
        clauses = ["ps_fts MATCH ?", "p.active = 1"]
        params.append(" AND ".join(parts))
    else:
        if s.category is not None:
            source = "ps_products p INDEXED BY ps_products_category"
            clauses.append(
                "p.category_id IN (SELECT descendant FROM ps_category_closure WHERE ancestor = ?)"
            )
            params.append(s.category)
        elif order is None or _KEYS[order.name][0] == "p.price_cents" or (few and _priced(s)):
            source = "ps_products p INDEXED BY ps_products_price"
        else:
            # Newest first is the table's own rowid order, read backwards.
            source = "ps_products p NOT INDEXED"
    if s.in_stock is True:
        clauses.append("p.stock > 0")
    elif s.in_stock is False:
        clauses.append("p.stock = 0")
    if s.min_cents is not None:
        clauses.append("p.price_cents >= ?")
        params.append(s.min_cents)
    if s.max_cents is not None:
        clauses.append("p.price_cents <= ?")
        params.append(s.max_cents)
    return source, clauses, params


def _named(key: str) -> str:
    """The category id of a `ps_matches` category key (NULL for none)."""
    return f"(SELECT id FROM ps_categories WHERE key = {key})"


def _priced(s: PlannedSearch) -> bool:
    return s.min_cents is not None or s.max_cents is not None


PageKeys = list[tuple[Any, ...]]


def _after(s: PlannedSearch, keys: tuple[str, ...]) -> tuple[str, list[Any]]:
    """The keyset condition that resumes after the cursor ("1" without one)."""
    if s.after is None:
        return "1", []
    comparison = "<" if s.order.descending else ">"
    placeholders = ", ".join("?" for _ in keys)
    return f"({', '.join(keys)}) {comparison} ({placeholders})", list(s.after)


def _text_search(
    conn: sqlite3.Connection, s: PlannedSearch, category_key: int | None
) -> tuple[Counts, PageKeys]:
    """Counts and page of a text search from one walk over the FTS matches.

    Both come back in one row, each as a JSON array, rather than as a row per count and
    per page item: the sqlite3 module lets go of the GIL around every step of a
    statement and takes it back after, and under load each of those hand-offs waits
    on the event loop's thread (a row per item: 14% fewer searches a second over HTTP).
    A relevance key is a float, written with the 17 digits that give it back exactly
    (JSON's own 15 round it): a cursor resumes after the exact key.
    """
    source, clauses, params = _matches(s, category_key, s.order)
    order_keys = _KEYS[s.order.name]
    keys = ", ".join(f"{key} AS k{i}" for i, key in enumerate(order_keys))
    names = tuple(f"k{i}" for i in range(len(order_keys)))
    after, after_params = _after(s, names)
    relevance = s.order.name == "relevance"
    first = "printf('%!.17g', pg.k0)" if relevance else "pg.k0"
    sql = (
        "WITH m AS MATERIALIZED (SELECT p.created_position AS cp, p.category_key AS category,"
        f" p.price_cents AS cents, {keys} FROM {source} WHERE {' AND '.join(clauses)}),"
        f" g AS (SELECT category, {bucket_sql('cents')} AS b, COUNT(*) AS n FROM m GROUP BY 1, 2)"
        f" SELECT (SELECT json_group_array(json_array({_named('g.category')}, g.b, g.n)) FROM g),"
        f" (SELECT json_group_array(json_array(pg.cp, {first}, pg.k1, {_SUMMARY_SELECT}))"
        f" FROM (SELECT cp, {', '.join(names)} FROM m WHERE {after}"
        f" ORDER BY {_order_by(s.order, names)} LIMIT ?) AS pg CROSS JOIN {_SUMMARY_TABLES}"
        " WHERE p.created_position = pg.cp)"
    )
    counts_json, page_json = conn.execute(sql, [*params, *after_params, s.limit + 1]).fetchone()
    counts: Counts = [(c, b, n) for c, b, n in orjson.loads(counts_json)]
    page: PageKeys = [
        (row[0], float(row[1]) if relevance else row[1], row[2], _summary(row[3:]))
        for row in orjson.loads(page_json)
    ]
    # json_group_array keeps no promise about the order of the subquery's rows.
    page.sort(key=lambda r: (r[1], r[2]), reverse=s.order.descending)
    return counts, page


def _typo_search(
    conn: sqlite3.Connection, s: PlannedSearch, category_key: int | None, typos: Typos
) -> tuple[Counts, PageKeys]:
    """Counts and page of the typo fallback (`typos`): the candidates the FTS index
    finds (`sqlite_typos`), each scored, the page sorted and cut here."""
    match = candidates(conn, typos)
    if match is None:
        return [], []
    source, clauses, params = _matches(s, category_key, s.order, text=match)
    rows = conn.execute(
        f"SELECT p.created_position, p.id, {_named('p.category_key')}, p.price_cents, t.name,"
        f" t.category_path FROM {source}"
        " JOIN ps_product_text t ON t.created_position = p.created_position"
        f" WHERE {' AND '.join(clauses)}",
        params,
    ).fetchall()
    scorer = typos.scorer()
    counts: dict[tuple[str, int], int] = {}
    keyed: PageKeys = []
    for position, id, category, cents, name, path in rows:
        score = scorer.score(fuzzy_words(name, path))
        if score is None:
            continue
        facet = (category, bucket(cents))
        counts[facet] = counts.get(facet, 0) + 1
        key = {"relevance": -score, "newest": position}.get(s.order.name, cents)
        keyed.append((position, key, id))
    keyed.sort(key=lambda row: (row[1], row[2]), reverse=s.order.descending)
    if s.after is not None:
        after = s.after
        if s.order.descending:
            keyed = [row for row in keyed if (row[1], row[2]) < after]
        else:
            keyed = [row for row in keyed if (row[1], row[2]) > after]
    return [(c, b, n) for (c, b), n in counts.items()], keyed[: s.limit + 1]


def _counts(conn: sqlite3.Connection, s: PlannedSearch) -> Counts:
    """Matches per (category, price bucket) of a search without text."""
    if not _priced(s):
        # Every filter left is a dimension of the kept counts: no product is read.
        clauses = ["fc.n > 0"]
        params: list[Any] = []
        if s.category is not None:
            clauses.append(
                "fc.category_id IN (SELECT descendant FROM ps_category_closure WHERE ancestor = ?)"
            )
            params.append(s.category)
        if s.in_stock is not None:
            clauses.append("fc.in_stock = ?")
            params.append(int(s.in_stock))
        sql = (
            "SELECT fc.category_id, fc.bucket, SUM(fc.n) FROM ps_facet_counts fc"
            f" WHERE {' AND '.join(clauses)} GROUP BY 1, 2"
        )
    else:
        source, clauses, params = _matches(s, None, None)
        sql = (
            f"SELECT p.category_id, {bucket_sql('p.price_cents')}, COUNT(*) FROM {source}"
            f" WHERE {' AND '.join(clauses)} GROUP BY 1, 2"
        )
    return [(row[0], row[1], row[2]) for row in conn.execute(sql, params).fetchall()]


def _page(conn: sqlite3.Connection, s: PlannedSearch, total: int) -> PageKeys:
    """The page of a search without text, found from index entries alone."""
    source, clauses, params = _matches(s, None, s.order, few=total <= _FEW)
    keys = _KEYS[s.order.name]
    after, after_params = _after(s, keys)
    sql = (
        f"SELECT p.created_position, {', '.join(keys)} FROM {source}"
        f" WHERE {' AND '.join([*clauses, after])} ORDER BY {_order_by(s.order)} LIMIT ?"
    )
    rows = conn.execute(sql, [*params, *after_params, s.limit + 1]).fetchall()
    return [tuple(row) for row in rows]


def _summaries(conn: sqlite3.Connection, page: PageKeys) -> list[ProductSummary]:
    """The display fields of the page's products, in page order."""
    positions = [key[0] for key in page]
    if not positions:
        return []
    rows = conn.execute(
        f"SELECT p.created_position, {_SUMMARY_SELECT} FROM {_SUMMARY_TABLES}"
        f" WHERE p.created_position IN ({', '.join('?' for _ in positions)})",
        positions,
    ).fetchall()
    by_position = {row[0]: row for row in rows}
    return [_summary(by_position[position][1:]) for position in positions]


def _facet_categories(conn: sqlite3.Connection, parent: str | None) -> dict[str, tuple[str, str]]:
    """Each category below `parent` (or every category), mapped to its child of `parent`."""
    # One row of JSON, not a row per category: see `_text_search`.
    (rows,) = conn.execute(
        "SELECT json_group_array(json_array(cl.descendant, k.id, k.name)) FROM ps_categories k"
        " JOIN ps_category_closure cl ON cl.ancestor = k.id WHERE k.parent_id IS ?",
        (parent,),
    ).fetchone()
    return {descendant: (id, name) for descendant, id, name in orjson.loads(rows)}


def _summary(row: Sequence[Any]) -> ProductSummary:
    id, sku, name, price, currency, in_stock, stock, category_id, category_name, status = row
    return {
        "id": id,
        "sku": sku,
        "name": name,
        "price": price,
        "currency": currency,
        "in_stock": bool(in_stock),
        "stock": stock,
        "category": {"id": category_id, "name": category_name or ""},
        "status": status,
    }


@contextmanager
def _match_errors() -> Iterator[None]:
    # The terms are quoted, so FTS5 should never reject them; if it still does, the
    # search text is to blame and the caller gets a 400, not a 500. Busy, locked and
    # I/O failures carry other result codes and pass through.
    try:
        yield
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_ERROR:
            raise
        if "no such table" in str(exc):
            raise
        raise InvalidInput("q", "cannot be searched") from exc


def run_search(conn: sqlite3.Connection, s: PlannedSearch) -> SearchPage:
    """Run a planned search on a connection to the product-search store."""
    with transaction(conn, immediate=False):
        category_key: int | None = None
        if s.category is not None:
            row = conn.execute(
                "SELECT key FROM ps_categories WHERE id = ?", (s.category,)
            ).fetchone()
            if row is None:
                return nothing()
            category_key = int(row[0])
        # A text search's page rows carry their display fields (fourth): its statement
        # joined them to the page. The other pages are keys the summaries are read for.
        summarized = False
        typos = None
        if s.terms:
            with _match_errors():
                counts, page = _text_search(conn, s, category_key)
                summarized = True
                typos = None if counts else typo_terms(s.terms)
                if typos is not None:
                    counts, page = _typo_search(conn, s, category_key, typos)
                    summarized = False
        else:
            counts = _counts(conn, s)
            page = _page(conn, s, sum(n for _, _, n in counts)) if counts else []
        if not counts:
            found = nothing()
        else:
            page, next_cursor = cut(s, page, lambda keys: keys[1:3])
            items = [key[3] for key in page] if summarized else _summaries(conn, page)
            found = result(items, counts, next_cursor, _facet_categories(conn, s.category))
    return found if typos is None else approximate(found)


class ProductSearchReads:
    """Answers `SearchProducts` from the product-search read model."""

    def __init__(self, reader: SqliteReader) -> None:
        self._reader = reader

    async def search(self, query: SearchProducts) -> SearchPage:
        # Validation happens before the thread hop, so bad input costs no database time.
        planned = plan(query)
        return await self._reader.run(lambda conn: run_search(conn, planned))

    async def scope_changes(self, after: int | None = None) -> ScopeChanges:
        """Which searches the batches after `after` may have changed (`scopes`)."""
        return await self._reader.run(lambda conn: SCOPES.read(conn, after))

    def register(self, bus: QueryBus) -> None:
        bus.register(SearchProducts, self.search, read_model=ProductSearchProjection.name)
