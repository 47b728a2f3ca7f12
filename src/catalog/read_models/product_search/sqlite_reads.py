"""Product search: full text, filters, facets, sorts and keyset pagination on SQLite FTS5.

A search runs in one read transaction, so its parts agree with each other: a count of
every match per (category, price bucket), which yields the total and both facets; the
page, which seeks past the cursor's sort key instead of skipping rows with OFFSET; the
display fields of the page's rows alone; and the names of the facet categories. A text
search gets its counts and its page from a single walk over the FTS matches.

    reads = ProductSearchReads(store.reader)
    page = await reads.search(SearchProducts(q="trail run", in_stock=True, sort="price_asc"))
    more = await reads.search(
        SearchProducts(q="trail run", in_stock=True, sort="price_asc", cursor=page["next_cursor"])
    )
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import sqlite3
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from catalog.domain.errors import InvalidInput
from catalog.read_models.product_search.sqlite import (
    IN_STOCK_TOKEN,
    OUT_OF_STOCK_TOKEN,
    PRICE_EDGES,
    ProductSearchProjection,
    bucket_sql,
    category_token,
)
from catalog.read_models.queries import SearchProducts
from tandem.bus import QueryBus
from tandem.db.sqlite import SqliteReader, transaction

MAX_LIMIT = 100
MAX_QUERY_CHARS = 1024
MAX_TERMS = 16
MAX_CURSOR_CHARS = 512
# Far above any storable price (below 10^9), small enough to bind as a 64-bit integer.
_CENTS_CAP = 10**13
_INT64 = 2**63
# Up to this many matches, sorting them all is cheaper than scanning for a page of them.
_FEW = 2_000

# Name matches count most, then SKU, then the category path, then the description; the
# filter tokens are not text and must not move the score.
_BM25 = "bm25(ps_fts, 10.0, 1.0, 4.0, 2.0, 0.0)"
_TEXT_COLUMNS = "{name description sku category_path}"

# Unicode letters and digits: what the unicode61 tokenizer keeps as token characters.
_WORD = re.compile(r"[^\W_]+")
_CURSOR_CHARS = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class _Order:
    """One sort: its key expressions (the last one the tie-break), direction, key types."""

    keys: tuple[str, ...]
    descending: bool
    types: tuple[type, ...]

    def sql(self, keys: tuple[str, ...] | None = None) -> str:
        direction = " DESC" if self.descending else ""
        return ", ".join(f"{key}{direction}" for key in keys or self.keys)


_ORDERS: dict[str, _Order] = {
    "relevance": _Order((_BM25, "p.id"), False, (float, str)),
    "price_asc": _Order(("p.price_cents", "p.id"), False, (int, str)),
    "price_desc": _Order(("p.price_cents", "p.id"), True, (int, str)),
    "newest": _Order(("p.created_position", "p.id"), True, (int, str)),
}


@dataclass(frozen=True)
class _Search:
    """A validated search, ready to turn into SQL."""

    terms: tuple[str, ...]
    category: str | None
    min_cents: int | None
    max_cents: int | None
    in_stock: bool | None
    sort: str
    order: _Order
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


def _checksum(body: dict[str, Any]) -> str:
    # Not a secret: it catches altered or truncated cursors. Forging one only moves the
    # keyset position of a search the caller may run anyway.
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    return hashlib.blake2b(raw, digest_size=12, person=b"tandem-cursor").hexdigest()


def encode_cursor(sort: str, keys: tuple[Any, ...], digest: str) -> str:
    """An opaque, url-safe cursor resuming after `keys` in a search with this digest."""
    body: dict[str, Any] = {"s": sort, "k": list(keys), "f": digest}
    body["c"] = _checksum(body)
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _valid_key(value: Any, kind: type) -> bool:
    if kind is int:
        return type(value) is int and -_INT64 <= value < _INT64
    if kind is float:
        return type(value) in (int, float) and abs(value) < float("inf")
    return type(value) is str and len(value) <= 200


def decode_cursor(cursor: str, sort: str, order: _Order, digest: str) -> tuple[Any, ...]:
    """The sort key a cursor resumes after; InvalidInput unless it fits this search."""
    foreign = InvalidInput("cursor", "is not a cursor this service issued")
    if len(cursor) > MAX_CURSOR_CHARS or not _CURSOR_CHARS.fullmatch(cursor):
        raise foreign
    try:
        body = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise foreign from exc
    if not isinstance(body, dict) or set(body) != {"s", "k", "f", "c"}:
        raise foreign
    check = body.pop("c")
    if not isinstance(check, str) or not hmac.compare_digest(check, _checksum(body)):
        raise InvalidInput("cursor", "was altered")
    if body["s"] != sort or body["f"] != digest:
        raise InvalidInput("cursor", "belongs to a search with other filters or sort")
    keys = body["k"]
    if (
        not isinstance(keys, list)
        or len(keys) != len(order.types)
        or not all(_valid_key(v, t) for v, t in zip(keys, order.types, strict=True))
    ):
        raise foreign
    return tuple(float(v) if t is float else v for v, t in zip(keys, order.types, strict=True))


def plan(query: SearchProducts) -> _Search:
    """Validate a search and resolve its sort; raises InvalidInput on bad input."""
    if query.sort not in _ORDERS:
        raise InvalidInput("sort", f"must be one of {', '.join(_ORDERS)}")
    if type(query.limit) is not int or not 1 <= query.limit <= MAX_LIMIT:
        raise InvalidInput("limit", f"must be between 1 and {MAX_LIMIT}")
    if query.in_stock not in (None, True, False):
        raise InvalidInput("in_stock", "must be true or false")
    terms = search_terms(query.q)
    min_cents = _price_bound(query.min_price, "min_price", ROUND_CEILING)
    max_cents = _price_bound(query.max_price, "max_price", ROUND_FLOOR)
    # Relevance means nothing without search text; newest is the useful order then.
    order = _ORDERS["newest" if query.sort == "relevance" and not terms else query.sort]
    digest = _digest(list(terms), query.category, min_cents, max_cents, query.in_stock)
    after = None
    if query.cursor is not None:
        after = decode_cursor(query.cursor, query.sort, order, digest)
    return _Search(
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


def _matches(
    s: _Search, category_key: int | None, order: _Order | None, *, few: bool = False
) -> tuple[str, list[str], list[Any]]:
    """FROM clause, WHERE terms and parameters that select every match of `s`.

    The plan is spelled out rather than left to the planner, which has no statistics
    on a read model that is only ever appended to: text searches walk the FTS matches
    (category and stock are FTS tokens there); others read a covering index, or the
    table backwards for newest first. `few` says the matches are known to be few, so
    sorting them beats scanning the table until a page of them turns up.
    """
    clauses = ["p.status = 'active'"]
    params: list[Any] = []
    if s.terms:
        # A one-letter prefix matches nearly everything and helps nobody: whole word.
        text = " AND ".join(f'"{t}"*' if len(t) > 1 else f'"{t}"' for t in s.terms)
        parts = [f"{_TEXT_COLUMNS} : ({text})"]
        if category_key is not None:
            parts.append(f'filters : "{category_token(category_key)}"')
        if s.in_stock is not None:
            parts.append(f'filters : "{IN_STOCK_TOKEN if s.in_stock else OUT_OF_STOCK_TOKEN}"')
        source = "ps_fts CROSS JOIN ps_products p ON p.created_position = ps_fts.rowid"
        clauses.insert(0, "ps_fts MATCH ?")
        params.append(" AND ".join(parts))
    else:
        if s.category is not None:
            source = "ps_products p INDEXED BY ps_products_category"
            clauses.append(
                "p.category_id IN (SELECT descendant FROM ps_category_closure WHERE ancestor = ?)"
            )
            params.append(s.category)
        elif order is None or order.keys[0] == "p.price_cents" or (few and _priced(s)):
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


def _priced(s: _Search) -> bool:
    return s.min_cents is not None or s.max_cents is not None


Counts = list[tuple[str, int, int]]
PageKeys = list[tuple[Any, ...]]


def _after(s: _Search, keys: tuple[str, ...]) -> tuple[str, list[Any]]:
    """The keyset condition that resumes after the cursor ("1" without one)."""
    if s.after is None:
        return "1", []
    comparison = "<" if s.order.descending else ">"
    placeholders = ", ".join("?" for _ in keys)
    return f"({', '.join(keys)}) {comparison} ({placeholders})", list(s.after)


def _text_search(
    conn: sqlite3.Connection, s: _Search, category_key: int | None
) -> tuple[Counts, PageKeys]:
    """Counts and page of a text search from one walk over the FTS matches."""
    source, clauses, params = _matches(s, category_key, s.order)
    keys = ", ".join(f"{key} AS k{i}" for i, key in enumerate(s.order.keys))
    names = tuple(f"k{i}" for i in range(len(s.order.keys)))
    after, after_params = _after(s, names)
    sql = (
        "WITH m AS MATERIALIZED (SELECT p.created_position AS cp, p.category_id AS category,"
        f" p.price_cents AS cents, {keys} FROM {source} WHERE {' AND '.join(clauses)})"
        f" SELECT 0, category, {bucket_sql('cents')}, COUNT(*), NULL, NULL FROM m GROUP BY 2, 3"
        f" UNION ALL SELECT * FROM (SELECT 1, cp, NULL, NULL, {', '.join(names)} FROM m"
        f" WHERE {after} ORDER BY {s.order.sql(names)} LIMIT ?)"
    )
    counts: Counts = []
    page: PageKeys = []
    for row in conn.execute(sql, [*params, *after_params, s.limit + 1]).fetchall():
        if row[0] == 0:
            counts.append((row[1], row[2], row[3]))
        else:
            page.append((row[1], row[4], row[5]))
    # UNION ALL keeps no promise about the order of the subquery's rows.
    page.sort(key=lambda r: (r[1], r[2]), reverse=s.order.descending)
    return counts, page


def _counts(conn: sqlite3.Connection, s: _Search) -> Counts:
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


def _page(conn: sqlite3.Connection, s: _Search, total: int) -> PageKeys:
    """The page of a search without text, found from index entries alone."""
    source, clauses, params = _matches(s, None, s.order, few=total <= _FEW)
    after, after_params = _after(s, s.order.keys)
    sql = (
        f"SELECT p.created_position, {', '.join(s.order.keys)} FROM {source}"
        f" WHERE {' AND '.join([*clauses, after])} ORDER BY {s.order.sql()} LIMIT ?"
    )
    rows = conn.execute(sql, [*params, *after_params, s.limit + 1]).fetchall()
    return [tuple(row) for row in rows]


def _summaries(conn: sqlite3.Connection, page: PageKeys) -> list[dict[str, Any]]:
    """The display fields of the page's products, in page order."""
    positions = [key[0] for key in page]
    if not positions:
        return []
    rows = conn.execute(
        "SELECT p.created_position, p.id, t.sku, t.name, p.price, p.currency, p.in_stock,"
        " p.stock, p.category_id, c.name, p.status FROM ps_products p"
        " JOIN ps_product_text t ON t.created_position = p.created_position"
        " LEFT JOIN ps_categories c ON c.id = p.category_id"
        f" WHERE p.created_position IN ({', '.join('?' for _ in positions)})",
        positions,
    ).fetchall()
    by_position = {row[0]: row for row in rows}
    return [_summary(by_position[position]) for position in positions]


def _facet_categories(conn: sqlite3.Connection, parent: str | None) -> dict[str, tuple[str, str]]:
    """Each category below `parent` (or every category), mapped to its child of `parent`."""
    rows = conn.execute(
        "SELECT cl.descendant, k.id, k.name FROM ps_categories k"
        " JOIN ps_category_closure cl ON cl.ancestor = k.id WHERE k.parent_id IS ?",
        (parent,),
    ).fetchall()
    return {row[0]: (row[1], row[2]) for row in rows}


def _money(amount: int) -> str:
    return f"{Decimal(amount) / 100:.2f}"


def _facets(
    counts: list[tuple[str, int, int]], children: dict[str, tuple[str, str]]
) -> dict[str, list[dict[str, Any]]]:
    by_child: dict[tuple[str, str], int] = {}
    by_bucket = [0] * len(PRICE_EDGES)
    for category_id, bucket, count in counts:
        by_bucket[bucket] += count
        child = children.get(category_id)
        if child is not None:
            by_child[child] = by_child.get(child, 0) + count
    ranked = sorted(by_child.items(), key=lambda item: (-item[1], item[0][1], item[0][0]))
    uppers: tuple[int | None, ...] = (*PRICE_EDGES[1:], None)
    return {
        "category": [{"id": cid, "name": name, "count": n} for (cid, name), n in ranked],
        "price": [
            {"min": _money(low), "max": None if high is None else _money(high), "count": n}
            for low, high, n in zip(PRICE_EDGES, uppers, by_bucket, strict=True)
            if n
        ],
    }


def _summary(row: sqlite3.Row) -> dict[str, Any]:
    _, id, sku, name, price, currency, in_stock, stock, category_id, category_name, status = row
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


def _nothing() -> dict[str, Any]:
    return {"items": [], "total": 0, "next_cursor": None, "facets": {"category": [], "price": []}}


def run_search(conn: sqlite3.Connection, s: _Search) -> dict[str, Any]:
    """Run a planned search on a connection to the product-search store."""
    with transaction(conn, immediate=False):
        category_key: int | None = None
        if s.category is not None:
            row = conn.execute(
                "SELECT key FROM ps_categories WHERE id = ?", (s.category,)
            ).fetchone()
            if row is None:
                return _nothing()
            category_key = int(row[0])
        if s.terms:
            with _match_errors():
                counts, page = _text_search(conn, s, category_key)
        else:
            counts = _counts(conn, s)
            page = _page(conn, s, sum(n for _, _, n in counts)) if counts else []
        if not counts:
            return _nothing()
        next_cursor = None
        if len(page) > s.limit:
            page = page[: s.limit]
            next_cursor = encode_cursor(s.sort, page[-1][1:], s.digest)
        items = _summaries(conn, page)
        children = _facet_categories(conn, s.category)
    return {
        "items": items,
        "total": sum(n for _, _, n in counts),
        "next_cursor": next_cursor,
        "facets": _facets(counts, children),
    }


class ProductSearchReads:
    """Answers `SearchProducts` from the product-search read model."""

    def __init__(self, reader: SqliteReader) -> None:
        self._reader = reader

    async def search(self, query: SearchProducts) -> dict[str, Any]:
        # Validation happens before the thread hop, so bad input costs no database time.
        planned = plan(query)
        return await self._reader.run(lambda conn: run_search(conn, planned))

    def register(self, bus: QueryBus) -> None:
        bus.register(SearchProducts, self.search, read_model=ProductSearchProjection.name)
