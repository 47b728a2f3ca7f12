"""Product search rules every backend shares: what a search may ask, and what it answers.

The SQLite FTS5 reads, the PostgreSQL reads and the level-1 search over the write tables
must reject the same input with the same `InvalidInput`, sort and page the same way and
answer documents of the same shape, so all of that lives here, apart from any store:

- limits on a search (`MAX_LIMIT`, `MAX_QUERY_CHARS`, `MAX_TERMS`) and its words
  (`search_terms`);
- the planned search (`plan` → `PlannedSearch`): validated filters, price bounds in
  cents, the sort actually applied (`ORDERS`), the cursor's position (`cursors`);
- price buckets (`PRICE_EDGES`, `bucket`, and `bucket_sql` for any SQL dialect) and the
  category path's separator, which the folds store and the reads count by;
- the answer: a search result's summary, the facets shaped from counts per (category,
  price bucket), and the page cut at its limit with the cursor to the next one.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, TypeVar, cast

from catalog.domain.errors import InvalidInput
from catalog.read_models.money import from_cents, optional_from_cents
from catalog.read_models.product_search.cursors import decode_cursor, encode_cursor
from catalog.read_models.queries import SearchProducts
from catalog.read_models.shapes import Facets, ProductSummary, SearchPage

MAX_LIMIT = 100
MAX_QUERY_CHARS = 1024
MAX_TERMS = 16
# Far above any storable price (below 10^9), small enough to bind as a 64-bit integer.
_CENTS_CAP = 10**13

PATH_SEPARATOR = " / "
# Price facet edges in cents: [0,10), [10,25), … [500,∞). Counts are stored per bucket,
# so changing the edges needs a new projection version (a rebuild).
PRICE_EDGES: tuple[int, ...] = (0, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000)

# Unicode letters and digits: what the unicode61 tokenizer keeps as token characters.
_WORD = re.compile(r"[^\W_]+")

RowT = TypeVar("RowT")
# Matches per (category id, price bucket, count): what the total and both facets come from.
Counts = list[tuple[str, int, int]]


def shown_only_where_listed(stock_before: int, stock_after: int) -> bool:
    """Whether a stock change alters only what a page listing the product shows (its
    count), not what searches find, count or how they sort: the product stays in stock,
    or out of it. The folds record such a change under the product's own scope."""
    return (stock_before > 0) == (stock_after > 0)


def bucket(price_cents: int) -> int:
    """The index of the price bucket holding `price_cents` (as `bucket_sql`)."""
    return max(bisect_right(PRICE_EDGES, price_cents) - 1, 0)


def bucket_sql(price_cents: str) -> str:
    """SQL for the index of the price bucket holding `price_cents` (plain CASE, so
    SQLite and PostgreSQL read it alike)."""
    cases = " ".join(
        f"WHEN {price_cents} < {edge} THEN {i}" for i, edge in enumerate(PRICE_EDGES[1:])
    )
    return f"(CASE {cases} ELSE {len(PRICE_EDGES) - 1} END)"


@dataclass(frozen=True)
class Order:
    """One sort as every backend applies it: its name, its direction, and the types of
    its key (the sort value, then the id that breaks ties), which a cursor carries."""

    name: str
    descending: bool
    types: tuple[type, ...]


ORDERS: dict[str, Order] = {
    "relevance": Order("relevance", False, (float, str)),
    "price_asc": Order("price_asc", False, (int, str)),
    "price_desc": Order("price_desc", True, (int, str)),
    "newest": Order("newest", True, (int, str)),
}


@dataclass(frozen=True)
class PlannedSearch:
    """A validated search, ready to turn into any backend's SQL."""

    terms: tuple[str, ...]
    category: str | None
    min_cents: int | None
    max_cents: int | None
    in_stock: bool | None
    sort: str
    order: Order
    limit: int
    after: tuple[Any, ...] | None
    digest: str


def search_terms(q: str | None) -> tuple[str, ...]:
    """The words of a user's search text, lower-cased and without repeats."""
    if q is None:
        return ()
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidInput("q", f"must be at most {MAX_QUERY_CHARS} characters")
    words = _WORD.findall(unicodedata.normalize("NFKC", q).lower())
    terms = tuple(dict.fromkeys(words))
    if len(terms) > MAX_TERMS:
        raise InvalidInput("q", f"must have at most {MAX_TERMS} words")
    return terms


def _price_bound(value: Decimal | None, field: str, rounding: str) -> int | None:
    """A price filter in cents, rounded inward (`rounding`), capped far above any price."""
    if value is None:
        return None
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidInput(field, "must be a finite decimal number")
    if value < 0:
        raise InvalidInput(field, "must not be negative")
    if value >= _CENTS_CAP // 100:
        return _CENTS_CAP
    # Prices have at most two decimals, so rounding a bound inward keeps its meaning.
    return int((value * 100).to_integral_value(rounding=rounding))


def _digest(*parts: Any) -> str:
    raw = json.dumps(parts, separators=(",", ":")).encode()
    return hashlib.blake2b(raw, digest_size=12).hexdigest()


def plan(query: SearchProducts) -> PlannedSearch:
    """Validate a search and resolve its sort; raises InvalidInput on bad input."""
    if query.sort not in ORDERS:
        raise InvalidInput("sort", f"must be one of {', '.join(ORDERS)}")
    if type(query.limit) is not int or not 1 <= query.limit <= MAX_LIMIT:
        raise InvalidInput("limit", f"must be between 1 and {MAX_LIMIT}")
    if query.in_stock not in (None, True, False):
        raise InvalidInput("in_stock", "must be true or false")
    terms = search_terms(query.q)
    min_cents = _price_bound(query.min_price, "min_price", ROUND_CEILING)
    max_cents = _price_bound(query.max_price, "max_price", ROUND_FLOOR)
    # Relevance means nothing without search text; newest is the useful order then.
    order = ORDERS["newest" if query.sort == "relevance" and not terms else query.sort]
    digest = _digest(list(terms), query.category, min_cents, max_cents, query.in_stock)
    after = None
    if query.cursor is not None:
        after = decode_cursor(query.cursor, query.sort, order.types, digest)
    return PlannedSearch(
        terms=terms,
        category=query.category,
        min_cents=min_cents,
        max_cents=max_cents,
        in_stock=query.in_stock,
        sort=query.sort,
        order=order,
        limit=query.limit,
        after=after,
        digest=digest,
    )


def summary(row: Any) -> ProductSummary:
    """One search result, from a row indexable by column name (its stock, not a flag)."""
    return {
        "id": row["id"],
        "sku": row["sku"],
        "name": row["name"],
        "price": row["price"],
        "currency": row["currency"],
        "in_stock": row["stock"] > 0,
        "stock": row["stock"],
        "category": {"id": row["category_id"], "name": row["category_name"] or ""},
        "status": row["status"],
    }


def cut(
    s: PlannedSearch, rows: list[RowT], keys: Callable[[RowT], tuple[Any, ...]]
) -> tuple[list[RowT], str | None]:
    """The page of `rows` (fetched one past the limit, to know whether another page
    follows) and the cursor resuming after its last row's sort `keys` (None: no more)."""
    if len(rows) <= s.limit:
        return rows, None
    page = rows[: s.limit]
    return page, encode_cursor(s.sort, keys(page[-1]), s.digest)


def facets(counts: Counts, children: dict[str, tuple[str, str]]) -> Facets:
    """The category facet (matches per child of the searched category, most first) and
    the price facet (matches per non-empty price bucket) from the counts; `children`
    maps each category below the searched one to its (id, name) child."""
    by_child: dict[tuple[str, str], int] = {}
    by_bucket = [0] * len(PRICE_EDGES)
    for category_id, index, count in counts:
        by_bucket[index] += count
        child = children.get(category_id)
        if child is not None:
            by_child[child] = by_child.get(child, 0) + count
    ranked = sorted(by_child.items(), key=lambda item: (-item[1], item[0][1], item[0][0]))
    uppers: tuple[int | None, ...] = (*PRICE_EDGES[1:], None)
    return {
        "category": [{"id": cid, "name": name, "count": n} for (cid, name), n in ranked],
        "price": [
            {"min": from_cents(low), "max": optional_from_cents(high), "count": n}
            for low, high, n in zip(PRICE_EDGES, uppers, by_bucket, strict=True)
            if n
        ],
    }


def result(
    items: list[ProductSummary],
    counts: Counts,
    next_cursor: str | None,
    children: dict[str, tuple[str, str]],
) -> SearchPage:
    """A search's answer: its page of summaries, total, next cursor and facets."""
    return {
        "items": items,
        "total": sum(n for _, _, n in counts),
        "next_cursor": next_cursor,
        "facets": facets(counts, children),
    }


def nothing() -> SearchPage:
    """The answer of a search that matches nothing (or names an unknown category)."""
    return result([], [], None, {})


class _Approximate(dict[str, Any]):
    """A search answer the typo fallback gave, or tried to give: an answer that
    depends on products similar to its words, not only on those its words begin."""


def approximate(page: SearchPage) -> SearchPage:
    """`page`, marked as the typo fallback's (`is_approximate`); the same document."""
    return cast(SearchPage, _Approximate(page))


def is_approximate(page: object) -> bool:
    """Whether a search answer came from (or through) the typo fallback: an answer
    cache then files it under every change of its category, not under its word key."""
    return isinstance(page, _Approximate)
