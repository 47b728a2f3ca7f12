"""Product search on the write tables: substring matching, filters, facets, keyset pages.

Validation, cursors and the answer's shape are the read models' own (`plan`, `cut`,
`result` of `catalog.read_models.product_search.rules`), so every level rejects the
same input and pages the same way. Only active products match.

Matching, as a shared-model application would do it without a search index: every word
of the search text must occur, case-folded, as a substring of the product's name,
description, SKU or category path (the names from the root down, built by a recursive
CTE); SQLite folds ASCII letters only, and no level-1 match removes diacritics. The read
models match word prefixes instead, so a level-1 search can match more ("hoe" finds
"shoe"); searches for whole words or word beginnings find the same products.

Relevance, with search text: products whose name holds more of the words come first,
then by id; without text it is newest first, as everywhere. Every other sort is the
read models' own total order: the price, or the position of the product's creation in
the event log (its `ProductCreated`, found through the log's unique (aggregate,
version) index), then the id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from catalog.read_models.level1.statements import SUBTREE, Statement
from catalog.read_models.product_search import rules
from catalog.read_models.queries import SearchProducts
from catalog.read_models.shapes import SearchPage

_PATHS = """paths(id, path) AS (
    SELECT id, lower(name) FROM categories WHERE parent_id IS NULL
    UNION ALL
    SELECT c.id, paths.path || ' / ' || lower(c.name) FROM categories c
    JOIN paths ON c.parent_id = paths.id
)"""

_CREATED = (
    "(SELECT e.position FROM tandem_events e WHERE e.aggregate_type = 'product'"
    " AND e.aggregate_id = p.id AND e.aggregate_version = 1)"
)

_TEXT = ("lower(p.name)", "lower(p.description)", "lower(p.sku)", "cp.path")


class _Sql:
    """One statement's text and parameters, in the order they appear."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list[Any] = []

    def add(self, text: str, *params: Any) -> _Sql:
        self.parts.append(text)
        self.params.extend(params)
        return self

    def statement(self) -> Statement:
        return " ".join(self.parts), self.params


def _with(sql: _Sql, s: rules.PlannedSearch) -> None:
    ctes: list[str] = []
    params: list[Any] = []
    if s.category is not None:
        ctes.append(SUBTREE.strip().removeprefix("WITH RECURSIVE").strip())
        params.append(s.category)
    if s.terms:
        ctes.append(_PATHS)
    if ctes:
        sql.add("WITH RECURSIVE " + ", ".join(ctes), *params)


def _source(sql: _Sql, s: rules.PlannedSearch, *, named: bool) -> None:
    sql.add("FROM products p")
    if s.terms:
        sql.add("JOIN paths cp ON cp.id = p.category_id")
    if named:
        sql.add("LEFT JOIN categories c ON c.id = p.category_id")


def _where(sql: _Sql, s: rules.PlannedSearch) -> None:
    sql.add("WHERE p.status = 'active'")
    for term in s.terms:
        pattern = f"%{term}%"
        alternatives = " OR ".join(f"{column} LIKE ?" for column in _TEXT)
        sql.add(f"AND ({alternatives})", *([pattern] * len(_TEXT)))
    if s.category is not None:
        sql.add("AND p.category_id IN (SELECT id FROM subtree)")
    if s.in_stock is True:
        sql.add("AND p.stock > 0")
    elif s.in_stock is False:
        sql.add("AND p.stock = 0")
    if s.min_cents is not None:
        sql.add("AND p.price_cents >= ?", s.min_cents)
    if s.max_cents is not None:
        sql.add("AND p.price_cents <= ?", s.max_cents)


def _key(sql: _Sql, s: rules.PlannedSearch) -> None:
    sort = s.order.name
    if sort == "relevance":
        hits = " + ".join("CASE WHEN lower(p.name) LIKE ? THEN 1 ELSE 0 END" for _ in s.terms)
        sql.add(f"CAST(-({hits}) AS DOUBLE PRECISION) AS k0,", *(f"%{t}%" for t in s.terms))
    elif sort == "newest":
        sql.add(f"{_CREATED} AS k0,")
    else:
        sql.add("p.price_cents AS k0,")


def _counts(s: rules.PlannedSearch) -> Statement:
    sql = _Sql()
    _with(sql, s)
    sql.add(f"SELECT p.category_id, {rules.bucket_sql('p.price_cents')} AS bucket, COUNT(*) AS n")
    _source(sql, s, named=False)
    _where(sql, s)
    sql.add("GROUP BY 1, 2")
    return sql.statement()


def _page(s: rules.PlannedSearch) -> Statement:
    sql = _Sql()
    _with(sql, s)
    sql.add("SELECT * FROM (SELECT")
    _key(sql, s)
    sql.add(
        "p.id AS k1, p.id, p.sku, p.name, p.price, p.currency, p.stock, p.category_id,"
        " c.name AS category_name, p.status"
    )
    _source(sql, s, named=True)
    _where(sql, s)
    sql.add(") m")
    if s.after is not None:
        comparison = "<" if s.order.descending else ">"
        sql.add(f"WHERE (m.k0, m.k1) {comparison} (?, ?)", *s.after)
    direction = " DESC" if s.order.descending else ""
    sql.add(f"ORDER BY m.k0{direction}, m.k1{direction} LIMIT ?", s.limit + 1)
    return sql.statement()


def _children(parent: str | None) -> Statement:
    start = "parent_id IS NULL" if parent is None else "parent_id = ?"
    sql = (
        "WITH RECURSIVE tops(top, id) AS ("
        f" SELECT id, id FROM categories WHERE {start}"
        " UNION ALL SELECT tops.top, c.id FROM categories c JOIN tops ON c.parent_id = tops.id)"
        " SELECT tops.id AS descendant, k.id AS child, k.name AS name"
        " FROM tops JOIN categories k ON k.id = tops.top"
    )
    return sql, [] if parent is None else [parent]


def statements(s: rules.PlannedSearch) -> list[Statement]:
    """The category check, the counts, the page and the facet categories of a search."""
    known = ("SELECT COUNT(*) AS n FROM categories WHERE id = ?", [s.category])
    return [known, _counts(s), _page(s), _children(s.category)]


def _cursor_keys(s: rules.PlannedSearch, row: Any) -> tuple[Any, ...]:
    """The sort key of a page row, typed as the read models' cursors carry it."""
    key = float(row["k0"]) if s.order.name == "relevance" else int(row["k0"])
    return key, row["k1"]


def answer(s: rules.PlannedSearch, results: Sequence[Sequence[Any]]) -> SearchPage:
    """The search's answer from the rows of its `statements`."""
    known, count_rows, rows, children = results
    if s.category is not None and not int(known[0]["n"]):
        return rules.nothing()
    counts = [(row[0], int(row[1]), int(row[2])) for row in count_rows]
    if not counts:
        return rules.nothing()
    page, next_cursor = rules.cut(s, list(rows), lambda row: _cursor_keys(s, row))
    facet_children = {row["descendant"]: (row["child"], row["name"]) for row in children}
    return rules.result([rules.summary(row) for row in page], counts, next_cursor, facet_children)


def planned(query: SearchProducts) -> rules.PlannedSearch:
    """Validate a search (InvalidInput on bad input) before any database time; the
    read models' own planning, so every level accepts and pages alike."""
    return rules.plan(query)
