"""The SQL of the level-1 queries other than search, on the write tables.

Each query is a short list of statements that a snapshot runs in one read transaction,
so its parts agree. Every lookup seeks an index the write side has anyway: primary
keys, `categories (parent_id)`, `products (category_id)`, the event log's unique
(aggregate type, id, version); subtrees and paths are recursive CTEs over `categories`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from catalog.read_models.level1.dialect import Dialect

Statement = tuple[str, Sequence[Any]]

# Categories from each listed start up to its root: (start, name, depth).
_PATHS = """
WITH RECURSIVE up(start, id, parent_id, name, depth) AS (
    SELECT c.id, c.id, c.parent_id, c.name, 0 FROM categories c WHERE c.id IN ({starts})
    UNION ALL
    SELECT up.start, c.id, c.parent_id, c.name, up.depth + 1
    FROM categories c JOIN up ON c.id = up.parent_id
)
SELECT start, name FROM up ORDER BY start, depth DESC
"""


def _marks(count: int) -> str:
    return ", ".join("?" for _ in range(count))


def products(d: Dialect, ids: Sequence[str]) -> list[Statement]:
    """The rows of some products, then the category path of each one's category."""
    marks = _marks(len(ids))
    rows = (
        "SELECT id, sku, name, description, category_id, price, currency, stock, status,"
        f" {d.text('attributes')} AS attributes, version FROM products WHERE id IN ({marks})"
    )
    starts = f"SELECT category_id FROM products WHERE id IN ({marks})"
    return [(rows, list(ids)), (_PATHS.format(starts=starts), list(ids))]


# Every category with its subtree's active products: active products counted per
# category in one pass, then summed over the closure of the tree (each category paired
# with itself and every descendant).
_TREE = """
WITH RECURSIVE closure(ancestor, descendant) AS (
    SELECT id, id FROM categories
    UNION ALL
    SELECT cl.ancestor, c.id FROM categories c JOIN closure cl ON c.parent_id = cl.descendant
),
direct(category_id, n) AS (
    SELECT category_id, COUNT(*) FROM products WHERE status = 'active' GROUP BY category_id
)
SELECT k.id, k.name, k.slug, k.parent_id, COALESCE(SUM(d.n), 0) AS product_count
FROM categories k
JOIN closure cl ON cl.ancestor = k.id
LEFT JOIN direct d ON d.category_id = cl.descendant
GROUP BY k.id, k.name, k.slug, k.parent_id
"""


def category_tree() -> list[Statement]:
    return [(_TREE, [])]


SUBTREE = """
WITH RECURSIVE subtree(id) AS (
    SELECT id FROM categories WHERE id = ?
    UNION ALL
    SELECT c.id FROM categories c JOIN subtree s ON c.parent_id = s.id
)
"""

_STATS = (
    SUBTREE
    + """
SELECT COUNT(*) AS product_count,
       SUM(CASE WHEN p.stock > 0 THEN 1 ELSE 0 END) AS in_stock_count,
       MIN(p.price_cents) AS low, MAX(p.price_cents) AS high,
       SUM(p.price_cents) AS price_sum, SUM(p.stock) AS total_stock
FROM products p
WHERE p.status = 'active' AND p.category_id IN (SELECT id FROM subtree)
"""
)


def category_stats(category_id: str) -> list[Statement]:
    """The category's name, then the aggregate of the active products below it."""
    return [
        ("SELECT name FROM categories WHERE id = ?", [category_id]),
        (_STATS, [category_id]),
    ]


def cart(cart_id: str) -> list[Statement]:
    """The cart's owner, then its lines joined to their products."""
    return [
        ("SELECT owner FROM carts WHERE id = ?", [cart_id]),
        (
            "SELECT l.product_id, p.name, p.price_cents, p.currency, l.quantity"
            " FROM cart_lines l LEFT JOIN products p ON p.id = l.product_id"
            " WHERE l.cart_id = ?",
            [cart_id],
        ),
    ]


def order(d: Dialect, order_id: str) -> list[Statement]:
    return [
        (
            "SELECT id, customer, status, total, currency, placed_at,"
            f" {d.text('lines')} AS lines, {d.text('contact')} AS contact"
            " FROM orders WHERE id = ? ",
            [order_id],
        )
    ]


def _epoch(day: date) -> float:
    return datetime.combine(day, time(), tzinfo=UTC).timestamp()


def _day_key(d: Dialect) -> str:
    if d.name == "sqlite":
        return "date(o.placed_at, 'unixepoch')"
    return "to_char(to_timestamp(o.placed_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


def _cents(d: Dialect, field: str) -> str:
    # Money in order lines is a decimal string: summed as integer cents, never floats.
    if d.name == "sqlite":
        return f"CAST(ROUND(CAST({d.field(field)} AS REAL) * 100) AS INTEGER)"
    return f"(({d.field(field)})::numeric * 100)::bigint"


def _integer(d: Dialect, field: str) -> str:
    if d.name == "sqlite":
        return f"CAST({d.field(field)} AS INTEGER)"
    return f"({d.field(field)})::int"


def sales(d: Dialect, group_by: str, start: date | None, end: date | None) -> list[Statement]:
    """Orders, units and revenue (cents) per day, category or product, from the lines
    of every order not cancelled, placed between `start` and `end` (UTC days)."""
    conditions = ["o.status <> 'cancelled'"]
    params: list[Any] = []
    if start is not None:
        conditions.append("o.placed_at >= ?")
        params.append(_epoch(start))
    if end is not None:
        conditions.append("o.placed_at < ?")
        params.append(_epoch(end + timedelta(days=1)))
    lines = (
        f"SELECT o.id AS order_id, o.placed_at, {_day_key(d)} AS day,"
        f" {d.field('category_id')} AS category_id, {d.field('product_id')} AS product_id,"
        f" {d.field('name')} AS product_name, {_integer(d, 'quantity')} AS units,"
        f" {_cents(d, 'line_total')} AS cents"
        f" FROM orders o, {d.lines_of('o.lines')} WHERE {' AND '.join(conditions)}"
    )
    totals = (
        "COUNT(DISTINCT f.order_id) AS orders, SUM(f.units) AS units, SUM(f.cents) AS revenue_cents"
    )
    if group_by == "day":
        sql = (
            f"WITH f AS ({lines}) SELECT f.day AS key, f.day AS name, {totals}"
            " FROM f GROUP BY f.day ORDER BY f.day"
        )
    elif group_by == "category":
        sql = (
            f"WITH f AS ({lines}) SELECT f.category_id AS key, MAX(c.name) AS name, {totals}"
            " FROM f LEFT JOIN categories c ON c.id = f.category_id"
            " GROUP BY f.category_id ORDER BY SUM(f.cents) DESC, f.category_id"
        )
    else:
        # The name a product had in its newest order (as the order lines captured it).
        named = (
            "SELECT f.*, FIRST_VALUE(f.product_name) OVER (PARTITION BY f.product_id"
            " ORDER BY f.placed_at DESC, f.order_id DESC) AS newest_name FROM f"
        )
        sql = (
            f"WITH f AS ({lines}), n AS ({named})"
            f" SELECT n.product_id AS key, MAX(n.newest_name) AS name,"
            " COUNT(DISTINCT n.order_id) AS orders, SUM(n.units) AS units,"
            " SUM(n.cents) AS revenue_cents FROM n GROUP BY n.product_id"
            " ORDER BY SUM(n.cents) DESC, n.product_id"
        )
    return [(sql, params)]


def price_events(d: Dialect, product_id: str) -> list[Statement]:
    """The product's creation and price changes, from the event log."""
    return [
        (
            f"SELECT recorded_at, type, schema_version, {d.text('data')} AS data"
            " FROM tandem_events"
            " WHERE aggregate_type = 'product' AND aggregate_id = ?"
            " AND type IN ('ProductCreated', 'PriceChanged') ORDER BY recorded_at, position",
            [product_id],
        )
    ]
