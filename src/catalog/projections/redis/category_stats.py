"""Category stats on Redis: counts, stock and prices of active products per subtree.

Kept by deltas like the SQLite fold: an event changes one product, so it moves that
product's contribution out of the categories above its old category and into those
above its new one. Keys (relative to the projection's namespace):

- `category:{id}`: hash of `name`, `slug`, `parent_id` (absent for a root) and the
  counters `product_count`, `in_stock_count`, `total_stock`, `price_sum_cents`, moved
  with HINCRBY so a delta needs no read;
- `categories`: set of every category id, for the tree listing;
- `ancestors:{id}`: set of the category's ancestors, itself included (SQLite's
  `cs_ancestors` closure), written once since categories never change parent;
- `product:{id}`: JSON `[category_id, price_cents, stock, active]`, the product's last
  contribution;
- `prices:{id}`: sorted set of the active products in the subtree scored by price in
  cents: min and max are its first and last entries, and the cheapest product leaving
  takes only its own entry (SQLite keeps a price multiset for the same reason).

A product event costs two reads (its last contribution and its category's ancestors,
both cached for the batch) and O(depth) buffered writes; nothing scans products.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from catalog.projections.category_stats import cents
from tandem.messages import StoredEvent
from tandem.projections.base import AsyncProjection
from tandem.stores.redis_projections import RedisTx

CATEGORIES = "categories"
COUNTERS = ("product_count", "in_stock_count", "total_stock", "price_sum_cents")


def category_key(category_id: str) -> str:
    return f"category:{category_id}"


def prices_key(category_id: str) -> str:
    return f"prices:{category_id}"


class _Product(NamedTuple):
    category_id: str
    price_cents: int
    stock: int
    active: bool

    @property
    def in_stock(self) -> int:
        return 1 if self.stock > 0 else 0


async def _ancestors(tx: RedisTx, category_id: str) -> list[str]:
    return sorted(m.decode() for m in await tx.smembers(f"ancestors:{category_id}"))


async def _shift(tx: RedisTx, category_id: str, deltas: tuple[int, int, int, int]) -> None:
    """Add (count, in_stock, stock, price) deltas to the category and its ancestors."""
    if not any(deltas):
        return
    for ancestor in await _ancestors(tx, category_id):
        for field, delta in zip(COUNTERS, deltas, strict=True):
            tx.hincrby(category_key(ancestor), field, delta)


async def _price(tx: RedisTx, category_id: str, product_id: str, price: int | None) -> None:
    """Enter the product's price in every subtree above the category (None: remove it)."""
    for ancestor in await _ancestors(tx, category_id):
        if price is None:
            tx.zrem(prices_key(ancestor), product_id)
        else:
            tx.zadd(prices_key(ancestor), {product_id: price})


async def _replace(tx: RedisTx, id: str, old: _Product | None, new: _Product | None) -> None:
    """Swap a product's contribution `old` for `new`; inactive products contribute nothing."""
    before = old if old is not None and old.active else None
    after = new if new is not None and new.active else None
    if before is not None and after is not None and before.category_id == after.category_id:
        deltas = (
            0,
            after.in_stock - before.in_stock,
            after.stock - before.stock,
            after.price_cents - before.price_cents,
        )
        await _shift(tx, after.category_id, deltas)
        if before.price_cents != after.price_cents:
            await _price(tx, after.category_id, id, after.price_cents)
        return
    if before is not None:
        await _shift(
            tx, before.category_id, (-1, -before.in_stock, -before.stock, -before.price_cents)
        )
        await _price(tx, before.category_id, id, None)
    if after is not None:
        await _shift(tx, after.category_id, (1, after.in_stock, after.stock, after.price_cents))
        await _price(tx, after.category_id, id, after.price_cents)


async def _load(tx: RedisTx, product_id: str) -> _Product | None:
    raw = await tx.get(f"product:{product_id}")
    if raw is None:
        return None
    category_id, price, stock, active = orjson.loads(raw)
    return _Product(category_id, price, stock, active)


def _save(tx: RedisTx, product_id: str, p: _Product) -> None:
    tx.set(f"product:{product_id}", orjson.dumps(list(p)))


async def _create_category(tx: RedisTx, id: str, data: dict[str, Any]) -> None:
    parent = data["parent_id"]
    if await tx.hgetall(category_key(id)):
        # SQLite's ON CONFLICT: a second creation renames, keeping parent and counters.
        tx.hset(category_key(id), {"name": data["name"], "slug": data["slug"]})
    else:
        fields: dict[str, str | int] = {"name": data["name"], "slug": data["slug"]}
        if parent is not None:
            fields["parent_id"] = parent
        tx.hset(category_key(id), fields | dict.fromkeys(COUNTERS, 0))
    tx.sadd(CATEGORIES, id)
    tx.sadd(f"ancestors:{id}", id)
    if parent is not None:
        above = await _ancestors(tx, parent)
        if above:
            tx.sadd(f"ancestors:{id}", *above)


class RedisCategoryStatsProjection(AsyncProjection[RedisTx]):
    """The SQLite `CategoryStatsProjection`, folded into Redis keys."""

    name = "category_stats"
    version = 1
    event_types = frozenset(
        {
            "CategoryCreated",
            "CategoryRenamed",
            "ProductCreated",
            "ProductDetailsUpdated",
            "PriceChanged",
            "StockAdjusted",
            "ProductDiscontinued",
        }
    )

    async def setup(self, tx: RedisTx) -> None:
        """Nothing to create: Redis keys appear with their first write."""

    async def apply(self, tx: RedisTx, event: StoredEvent) -> None:
        data = event.data
        if event.type == "CategoryCreated":
            await _create_category(tx, event.aggregate_id, data)
            return
        if event.type == "CategoryRenamed":
            tx.hset_existing(
                category_key(event.aggregate_id), {"name": data["name"], "slug": data["slug"]}
            )
            return
        old = await _load(tx, event.aggregate_id)
        if event.type == "ProductCreated":
            new = _Product(data["category_id"], cents(data["price"]), data["stock"], True)
        elif old is None:
            return
        elif event.type == "ProductDetailsUpdated":
            new = old._replace(category_id=data["category_id"])
        elif event.type == "PriceChanged":
            new = old._replace(price_cents=cents(data["price"]))
        elif event.type == "StockAdjusted":
            new = old._replace(stock=data["stock"])
        else:
            new = old._replace(active=False)
        await _replace(tx, event.aggregate_id, old, new)
        _save(tx, event.aggregate_id, new)
