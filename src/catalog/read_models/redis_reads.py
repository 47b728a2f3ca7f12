"""Queries answered by the Redis read models (services profile).

Each class answers the same queries as its SQLite counterpart in this package, with the
same dicts and the same `NotFound` / `NotOwner` errors, so the composition root can pick
either store per read model. Keys are found through the projection's namespace, so a
read follows the projection version it is built for.

Reads that need several keys fetch them in one MULTI/EXEC pipeline (a consistent point
in time, since a projection batch commits in one script). A cart then joins its products
in a second round trip: a price committed between the two is newer than the lines, never
older, so an answer still reflects at least the version the query waited for.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import orjson
import redis.asyncio

from catalog.domain.errors import NotFound, NotOwner
from catalog.read_models.cart_view import redis as cart_view
from catalog.read_models.category_stats import redis as category_stats
from catalog.read_models.category_stats.sqlite import format_cents
from catalog.read_models.order_view.redis import RedisOrderViewProjection, order_key
from catalog.read_models.order_view.sqlite import iso_utc
from catalog.read_models.product_detail import redis as product_detail
from catalog.read_models.queries import (
    GetCart,
    GetCategoryStats,
    GetOrder,
    GetProduct,
    ListCategories,
)
from tandem.bus import QueryBus
from tandem.projections.base import AsyncProjection
from tandem.projections.partitions import part_name, partition_of
from tandem.stores.redis import RedisTx, as_bytes, namespace, optional_bytes


class _RedisReads:
    """The client and the namespace of one projection version."""

    projection: type[AsyncProjection[RedisTx]]

    def __init__(
        self,
        client: redis.asyncio.Redis,
        prefix: str = "tandem",
        stored_as: type[AsyncProjection[RedisTx]] | None = None,
    ) -> None:
        # `stored_as`: the copy to read (a generation of `projection`, see
        # `tandem.rebuilds.postgres`); by default the projection's own.
        self._client = client
        self._stored = stored_as or self.projection
        self._namespace = namespace(prefix, self._stored.name, self._stored.version)

    def key(self, relative: str) -> str:
        return self._namespace + relative


def _text(value: bytes | str | None) -> str | None:
    raw = optional_bytes(value)
    return None if raw is None else raw.decode()


def _hash(raw: dict[Any, Any]) -> dict[str, str]:
    return {as_bytes(k).decode(): as_bytes(v).decode() for k, v in raw.items()}


class RedisProductDetailReads(_RedisReads):
    """`GetProduct`: one GET of the stored JSON document, in its partition's namespace
    when the projection is split (`tandem.projections.partitions`)."""

    projection = product_detail.RedisProductDetailProjection

    def __init__(
        self,
        client: redis.asyncio.Redis,
        prefix: str = "tandem",
        partitions: int = 1,
        stored_as: type[AsyncProjection[RedisTx]] | None = None,
    ) -> None:
        super().__init__(client, prefix, stored_as)
        name, version = self._stored.name, self._stored.version
        self.partitions = partitions
        self._namespaces = (
            [namespace(prefix, part_name(name, i), version) for i in range(partitions)]
            if partitions > 1
            else [self._namespace]
        )

    def document_key(self, product_id: str) -> str:
        owner = partition_of(product_id, self.partitions) if self.partitions > 1 else 0
        return self._namespaces[owner] + product_detail.product_key(product_id)

    async def get_product(self, query: GetProduct) -> dict[str, Any]:
        raw = await self._client.get(self.document_key(query.product_id))
        if raw is None:
            raise NotFound("product", query.product_id)
        return dict(orjson.loads(raw))

    async def changed_since(self, position: int) -> list[tuple[str, int]]:
        """(id, position) of every product whose document changed after `position`."""
        found: list[tuple[str, int]] = []
        for ns in self._namespaces:
            rows = await self._client.zrangebyscore(
                ns + product_detail.CHANGED, f"({position}", "+inf", withscores=True
            )
            found += [(as_bytes(row[0]).decode(), int(row[1])) for row in rows]
        return sorted(found, key=lambda row: row[1])

    async def feed_after(
        self, entry: str, count: int = 1000, partition: int = 0
    ) -> list[tuple[str, str, int, bytes]]:
        """Document versions of one partition after stream entry `entry` ("-" for the
        oldest kept), in apply order: (entry id, product id, position, document)."""
        start = entry if entry == "-" else f"({entry}"
        stream = self._namespaces[partition] + product_detail.FEED
        rows = await self._client.xrange(stream, start, "+", count)
        out: list[tuple[str, str, int, bytes]] = []
        for entry_id, fields in rows or []:
            f = {as_bytes(k): as_bytes(v) for k, v in (fields or {}).items() if v is not None}
            pid, pos, doc = f[b"id"].decode(), int(f[b"position"]), f[b"doc"]
            out.append((as_bytes(entry_id or b"").decode(), pid, pos, doc))
        return out

    async def document(self, product_id: str) -> tuple[int, bytes] | None:
        """The stored document and the position of its last change, read together."""
        owner = partition_of(product_id, self.partitions) if self.partitions > 1 else 0
        ns = self._namespaces[owner]
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.get(ns + product_detail.product_key(product_id))
            pipe.zscore(ns + product_detail.CHANGED, product_id)
            raw, position = await pipe.execute()
        if raw is None or position is None:
            return None
        return int(position), as_bytes(raw)

    async def feed_window(
        self, entry: str, count: int, partition: int = 0
    ) -> tuple[str | None, list[tuple[str, str, int, bytes]]]:
        """The oldest entry id kept in one partition's feed, and the entries after `entry`
        (as `feed_after`), read together: an oldest id above `entry` means entries after
        it may have been trimmed unread."""
        stream = self._namespaces[partition] + product_detail.FEED
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.xrange(stream, "-", "+", 1)
            pipe.xrange(stream, f"({entry}", "+", count)
            oldest, rows = await pipe.execute()
        out: list[tuple[str, str, int, bytes]] = []
        for entry_id, fields in rows or []:
            f = {as_bytes(k): as_bytes(v) for k, v in (fields or {}).items() if v is not None}
            pid, pos, doc = f[b"id"].decode(), int(f[b"position"]), f[b"doc"]
            out.append((as_bytes(entry_id or b"").decode(), pid, pos, doc))
        first = as_bytes(oldest[0][0] or b"").decode() if oldest else None
        return first, out

    async def feed_end(self, partition: int = 0) -> str:
        """The id of the newest entry of one partition's feed ("0-0" when empty)."""
        rows = await self._client.xrevrange(
            self._namespaces[partition] + product_detail.FEED, "+", "-", 1
        )
        return as_bytes(rows[0][0] or b"").decode() if rows else "0-0"

    def register(self, bus: QueryBus) -> None:
        bus.register(GetProduct, self.get_product, read_model=self.projection.name)


class RedisCategoryStatsReads(_RedisReads):
    """Stats of one category subtree, and the whole tree with product counts."""

    projection = category_stats.RedisCategoryStatsProjection

    async def get_category_stats(self, query: GetCategoryStats) -> dict[str, Any]:
        prices = self.key(category_stats.prices_key(query.category_id))
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.hgetall(self.key(category_stats.category_key(query.category_id)))
            pipe.zrange(prices, 0, 0, withscores=True)
            pipe.zrange(prices, -1, -1, withscores=True)
            row, lowest, highest = await pipe.execute()
        if not row:
            raise NotFound("category", query.category_id)
        return _stats(query.category_id, _hash(row), lowest, highest)

    async def list_categories(self, query: ListCategories) -> dict[str, Any]:
        ids = sorted(
            as_bytes(m).decode()
            for m in await self._client.smembers(self.key(category_stats.CATEGORIES))
        )
        async with self._client.pipeline(transaction=True) as pipe:
            for id in ids:
                pipe.hmget(
                    self.key(category_stats.category_key(id)),
                    ["name", "slug", "parent_id", "product_count"],
                )
            rows = await pipe.execute()
        nodes = [
            (id, _text(name) or "", _text(slug) or "", _text(parent), int(count or 0))
            for id, (name, slug, parent, count) in zip(ids, rows, strict=True)
        ]
        return {"categories": _tree(nodes)}

    def register(self, bus: QueryBus) -> None:
        bus.register(GetCategoryStats, self.get_category_stats, read_model=self.projection.name)
        bus.register(ListCategories, self.list_categories, read_model=self.projection.name)


def _stats(
    category_id: str,
    row: dict[str, str],
    lowest: list[tuple[Any, float]],
    highest: list[tuple[Any, float]],
) -> dict[str, Any]:
    """The display-ready stats, computed as `category_stats.fetch_stats` does."""
    count = int(row.get("product_count", 0))
    price_sum = int(row.get("price_sum_cents", 0))
    average = None
    if count > 0:
        average = int((Decimal(price_sum) / count).to_integral_value(ROUND_HALF_UP))
    low = int(lowest[0][1]) if count > 0 and lowest else None
    high = int(highest[0][1]) if count > 0 and highest else None
    return {
        "category_id": category_id,
        "name": row.get("name", ""),
        "product_count": count,
        "in_stock_count": int(row.get("in_stock_count", 0)),
        "min_price": format_cents(low),
        "max_price": format_cents(high),
        "avg_price": format_cents(average),
        "total_stock": int(row.get("total_stock", 0)),
    }


def _tree(rows: list[tuple[str, str, str, str | None, int]]) -> list[dict[str, Any]]:
    """Nodes sorted by (name, id) into a tree, as `category_stats.fetch_tree` builds it."""
    # Python compares str by code point, as SQLite's BINARY collation compares UTF-8.
    nodes: dict[str, dict[str, Any]] = {
        id: {
            "id": id,
            "name": name,
            "slug": slug,
            "parent_id": parent,
            "product_count": count,
            "children": [],
        }
        for id, name, slug, parent, count in sorted(rows, key=lambda r: (r[1], r[0]))
    }
    roots: list[dict[str, Any]] = []
    for node in nodes.values():
        parent_node = nodes.get(node["parent_id"]) if node["parent_id"] is not None else None
        (parent_node["children"] if parent_node is not None else roots).append(node)
    return roots


class RedisCartViewReads(_RedisReads):
    """A customer's cart, priced now; only its owner or an admin may read it."""

    projection = cart_view.RedisCartViewProjection

    async def get_cart(self, query: GetCart) -> dict[str, Any]:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.get(self.key(cart_view.cart_key(query.cart_id)))
            pipe.hgetall(self.key(cart_view.lines_key(query.cart_id)))
            owner, lines = await pipe.execute()
        if owner is None:
            raise NotFound("cart", query.cart_id)
        cart = await self._priced(query.cart_id, as_bytes(owner).decode(), _hash(lines))
        if not query.admin and query.customer != cart["owner"]:
            raise NotOwner(f"cart {query.cart_id} belongs to another customer")
        return cart

    async def _priced(self, cart_id: str, owner: str, lines: dict[str, str]) -> dict[str, Any]:
        """The cart with each line joined to its product, as `cart_view.fetch` answers."""
        product_ids = list(lines)
        async with self._client.pipeline(transaction=True) as pipe:
            for product_id in product_ids:
                pipe.hmget(
                    self.key(cart_view.product_key(product_id)),
                    ["name", "price_cents", "currency"],
                )
            products = await pipe.execute()
        rows = [
            (pid, _text(name), int(price or 0), _text(currency), int(lines[pid]))
            for pid, (name, price, currency) in zip(product_ids, products, strict=True)
        ]
        # ORDER BY p.name, l.product_id: SQLite sorts a missing product's NULL name first.
        rows.sort(key=lambda r: (r[1] is not None, r[1] or "", r[0]))
        return _cart(cart_id, owner, rows)

    def register(self, bus: QueryBus) -> None:
        bus.register(GetCart, self.get_cart, read_model=self.projection.name)


def _cart(
    cart_id: str, owner: str, rows: list[tuple[str, str | None, int, str | None, int]]
) -> dict[str, Any]:
    lines: list[dict[str, Any]] = []
    subtotal = 0
    currencies: set[str] = set()
    for product_id, name, unit, currency, quantity in rows:
        subtotal += unit * quantity
        if currency is not None:
            currencies.add(currency)
        lines.append(
            {
                "product_id": product_id,
                "name": name or "",
                "unit_price": format_cents(unit),
                "quantity": quantity,
                "line_total": format_cents(unit * quantity),
            }
        )
    return {
        "id": cart_id,
        "owner": owner,
        "lines": lines,
        "subtotal": format_cents(subtotal),
        # As in SQLite: no currency for an empty cart or one mixing currencies.
        "currency": currencies.pop() if len(currencies) == 1 else None,
    }


class RedisOrderViewReads(_RedisReads):
    """One order; only the customer who placed it or an admin may read it."""

    projection = RedisOrderViewProjection

    async def get_order(self, query: GetOrder) -> dict[str, Any]:
        raw = await self._client.hgetall(self.key(order_key(query.order_id)))
        if not raw:
            raise NotFound("order", query.order_id)
        row = _hash(raw)
        order = {
            "id": query.order_id,
            "customer": row["customer"],
            "status": row["status"],
            "lines": orjson.loads(row["lines"]),
            "total": row["total"],
            "currency": row["currency"],
            "placed_at": iso_utc(float(row["placed_at"])),
        }
        if not query.admin and query.customer != order["customer"]:
            raise NotOwner(f"order {query.order_id} belongs to another customer")
        return order

    def register(self, bus: QueryBus) -> None:
        bus.register(GetOrder, self.get_order, read_model=self.projection.name)
