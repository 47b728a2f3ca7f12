"""Product search: full text, filters, facets, sorts and keyset pagination on SQLite FTS5.

One search runs three statements in one read transaction (so they agree with each
other): a grouped count over every match, which yields the total and both facets in a
single pass; the page itself, which seeks past the cursor's sort key instead of skipping
rows with OFFSET; and a lookup of the facet categories.

    reads = ProductSearchReads(store.reader)
    page = await reads.search(SearchProducts(q="trail run", in_stock=True, sort="price_asc"))
    more = await reads.search(SearchProducts(q="trail run", in_stock=True, sort="price_asc",
                                             cursor=page["next_cursor"]))
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
from catalog.projections.product_search import ProductSearchProjection
from catalog.read.queries import SearchProducts
from tandem.bus import QueryBus
from tandem.stores.sqlite import SqliteReader, transaction

MAX_LIMIT = 100
MAX_QUERY_CHARS = 1024
MAX_TERMS = 16
MAX_CURSOR_CHARS = 512
# Far above any storable price (below 10^9), small enough to bind as a 64-bit integer.
_CENTS_CAP = 10**13
_INT64 = 2**63

# Price facet edges in cents: [0,10), [10,25), … [500,∞).
PRICE_EDGES: tuple[int, ...] = (0, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000)
_BUCKET_SQL = (
    "CASE "
    + " ".join(f"WHEN p.price_cents < {edge} THEN {i}" for i, edge in enumerate(PRICE_EDGES[1:]))
    + f" ELSE {len(PRICE_EDGES) - 1} END"
)

# Name matches count most, then SKU, then the category path, then the description.
_BM25 = "bm25(ps_fts, 10.0, 1.0, 4.0, 2.0)"

# Unicode letters and digits: what the unicode61 tokenizer treats as token characters.
_WORD = re.compile(r"[^\W_]+")
_CURSOR_CHARS = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class _Order:
    """One sort: its key columns (the last one the tie-break), direction, key types."""

    columns: tuple[str, ...]
    descending: bool
    types: tuple[type, ...]


_ORDERS: dict[str, _Order] = {
    "relevance": _Order(("m.score", "p.id"), False, (float, str)),
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

    @property
    def match(self) -> str | None:
        """The FTS5 query: every term quoted (no user syntax survives) and prefix-matched."""
        if not self.terms:
            return None
        return " AND ".join(f'"{term}"*' for term in self.terms)


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
    # Prices have at most two decimals, so rounding the bound inward keeps its meaning.
    return int((value * 100).to_integral_value(rounding=rounding))


def _digest(*parts: Any) -> str:
    raw = json.dumps(parts, separators=(",", ":"), sort_keys=True).encode()
    return hashlib.blake2b(raw, digest_size=12).hexdigest()


def _checksum(body: dict[str, Any]) -> str:
    # Not a secret: it catches altered or truncated cursors. Forging one only moves the
    # keyset position of a search the caller may run anyway.
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    return hashlib.blake2b(raw, digest_size=12, person=b"tandem-cursor").hexdigest()


def encode_cursor(sort: str, keys: tuple[Any, ...], digest: str) -> str:
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
    if len(cursor) > MAX_CURSOR_CHARS or not _CURSOR_CHARS.fullmatch(cursor):
        raise InvalidInput("cursor", "is not a cursor this service issued")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body = json.loads(raw)
    except (ValueError, binascii.Error) as exc:
        raise InvalidInput("cursor", "is not a cursor this service issued") from exc
    if not isinstance(body, dict) or set(body) != {"s", "k", "f", "c"}:
        raise InvalidInput("cursor", "is not a cursor this service issued")
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
        raise InvalidInput("cursor", "is not a cursor this service issued")
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
    order = _ORDERS[query.sort if terms or query.sort != "relevance" else "newest"]
    digest = _digest(list(terms), query.category, min_cents, max_cents, query.in_stock)
    after = None if query.cursor is None else decode_cursor(query.cursor, query.sort, order, digest)
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


def _filters(s: _Search, *, text: bool) -> tuple[list[str], list[Any]]:
    clauses = ["p.status = 'active'"]
    params: list[Any] = []
    if text and s.match is not None:
        clauses.append("p.created_position IN (SELECT rowid FROM ps_fts WHERE ps_fts MATCH ?)")
        params.append(s.match)
    if s.category is not None:
        clauses.append(
            "p.category_id IN (SELECT descendant FROM ps_category_closure WHERE ancestor = ?)"
        )
        params.append(s.category)
    if s.min_cents is not None:
        clauses.append("p.price_cents >= ?")
        params.append(s.min_cents)
    if s.max_cents is not None:
        clauses.append("p.price_cents <= ?")
        params.append(s.max_cents)
    if s.in_stock is True:
        clauses.append("p.stock > 0")
    elif s.in_stock is False:
        clauses.append("p.stock = 0")
    return clauses, params


def _facet_counts(conn: sqlite3.Connection, s: _Search) -> list[tuple[str, int, int]]:
    clauses, params = _filters(s, text=True)
    sql = (
        f"SELECT p.category_id, {_BUCKET_SQL}, COUNT(*) FROM ps_products p"
        f" WHERE {' AND '.join(clauses)} GROUP BY 1, 2"
    )
    return [(row[0], row[1], row[2]) for row in conn.execute(sql, params).fetchall()]


def _page(conn: sqlite3.Connection, s: _Search) -> list[sqlite3.Row]:
    relevance = "m.score" in s.order.columns
    clauses, params = _filters(s, text=not relevance)
    prefix = ""
    source = "ps_products p"
    if relevance:
        prefix = f"WITH m (rid, score) AS (SELECT rowid, {_BM25} FROM ps_fts WHERE ps_fts MATCH ?) "
        source = "m JOIN ps_products p ON p.created_position = m.rid"
        params.insert(0, s.match)
    columns = s.order.columns
    if s.after is not None:
        placeholders = ", ".join("?" for _ in columns)
        clauses.append(
            f"({', '.join(columns)}) {'<' if s.order.descending else '>'} ({placeholders})"
        )
        params.extend(s.after)
    direction = " DESC" if s.order.descending else ""
    sql = (
        f"{prefix}SELECT p.id, p.sku, p.name, p.price, p.currency, p.in_stock, p.stock,"
        f" p.category_id, c.name AS category_name, p.status, {', '.join(columns)}"
        f" FROM {source} LEFT JOIN ps_categories c ON c.id = p.category_id"
        f" WHERE {' AND '.join(clauses)}"
        f" ORDER BY {', '.join(col + direction for col in columns)} LIMIT ?"
    )
    params.append(s.limit + 1)
    rows: list[sqlite3.Row] = conn.execute(sql, params).fetchall()
    return rows


def _facet_categories(conn: sqlite3.Connection, parent: str | None) -> dict[str, tuple[str, str]]:
    """Each category below `parent` (or below the roots), mapped to its child of `parent`."""
    rows = conn.execute(
        "SELECT cl.descendant, k.id, k.name FROM ps_categories k"
        " JOIN ps_category_closure cl ON cl.ancestor = k.id WHERE k.parent_id IS ?",
        (parent,),
    ).fetchall()
    return {row[0]: (row[1], row[2]) for row in rows}


def _money(amount: int) -> str:
    return f"{Decimal(amount) / 100:.2f}"


def _facets(
    groups: list[tuple[str, int, int]], children: dict[str, tuple[str, str]]
) -> dict[str, list[dict[str, Any]]]:
    by_child: dict[tuple[str, str], int] = {}
    by_bucket = [0] * len(PRICE_EDGES)
    for category_id, bucket, count in groups:
        by_bucket[bucket] += count
        child = children.get(category_id)
        if child is not None:
            by_child[child] = by_child.get(child, 0) + count
    categories = [
        {"id": cid, "name": name, "count": count}
        for (cid, name), count in sorted(
            by_child.items(), key=lambda item: (-item[1], item[0][1], item[0][0])
        )
    ]
    uppers: tuple[int | None, ...] = (*PRICE_EDGES[1:], None)
    prices = [
        {
            "min": _money(low),
            "max": None if high is None else _money(high),
            "count": count,
        }
        for low, high, count in zip(PRICE_EDGES, uppers, by_bucket, strict=True)
        if count
    ]
    return {"category": categories, "price": prices}


def _summary(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "sku": row["sku"],
        "name": row["name"],
        "price": row["price"],
        "currency": row["currency"],
        "in_stock": bool(row["in_stock"]),
        "stock": row["stock"],
        "category": {"id": row["category_id"], "name": row["category_name"] or ""},
        "status": row["status"],
    }


@contextmanager
def _match_errors() -> Iterator[None]:
    # The terms are quoted, so FTS5 should never reject them; if it still does, the
    # search text is to blame and the caller gets a 400, not a 500. Busy, locked and
    # I/O failures carry other codes and pass through.
    try:
        yield
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_ERROR:
            raise
        if "no such table" in str(exc):
            raise
        raise InvalidInput("q", "cannot be searched") from exc


def run_search(conn: sqlite3.Connection, s: _Search) -> dict[str, Any]:
    """Run a planned search on a connection to the product-search store."""
    with transaction(conn, immediate=False):
        with _match_errors():
            groups = _facet_counts(conn, s)
        total = sum(count for _, _, count in groups)
        rows: list[sqlite3.Row] = []
        if total:
            with _match_errors():
                rows = _page(conn, s)
        children = _facet_categories(conn, s.category) if total else {}
    next_cursor = None
    if len(rows) > s.limit:
        rows = rows[: s.limit]
        last = rows[-1]
        keys = tuple(last[i] for i in range(10, 10 + len(s.order.columns)))
        next_cursor = encode_cursor(s.sort, keys, s.digest)
    return {
        "items": [_summary(row) for row in rows],
        "total": total,
        "next_cursor": next_cursor,
        "facets": _facets(groups, children),
    }


class ProductSearchReads:
    """Answers `SearchProducts` from the product-search read model."""

    def __init__(self, reader: SqliteReader) -> None:
        self._reader = reader

    async def search(self, query: SearchProducts) -> dict[str, Any]:
        # Validation happens here, before the thread hop, so bad input costs nothing.
        planned = plan(query)
        return await self._reader.run(lambda conn: run_search(conn, planned))

    def register(self, bus: QueryBus) -> None:
        bus.register(SearchProducts, self.search, read_model=ProductSearchProjection.name)
