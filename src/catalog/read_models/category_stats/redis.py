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
- `scopes`: stream of the scope changes (`catalog.read_models.scopes`), one entry per
  batch with its last position and the categories whose stats it changed
  (`*` when a category event changed any), capped near the newest
  `RETAINED_BATCHES` entries;
- `prices:{id}`: sorted set of the active products in the subtree scored by price in
  cents: min and max are its first and last entries, and the cheapest product leaving
  takes only its own entry (SQLite keeps a price multiset for the same reason).

A product event needs two reads (its last contribution and its category's ancestors),
made for the whole batch in two round trips (`apply_batch`), and O(depth) counter and
price changes, summed over each run of product events and written once per category
(`_Changes`); nothing scans products.
"""

from __future__ import annotations

from typing import Any

import orjson

from catalog.domain.events import CATEGORY_AND_PRODUCT_EVENTS
from catalog.read_models.category_stats.rules import (
    CATEGORY_EVENTS,
    COUNTERS,
    Move,
    Product,
    contribution_moves,
    next_product,
)
from catalog.read_models.scopes import EVERYTHING, RETAINED_BATCHES
from tandem.messages import StoredEvent
from tandem.projections.base import AsyncProjection
from tandem.stores.redis import RedisTx

CATEGORIES = "categories"
# The scope changes (`catalog.read_models.scopes`): a stream of the batches, each entry
# with the batch's last position and the categories whose stats it changed.
SCOPES = "scopes"


def record_scopes(tx: RedisTx, position: int, scopes: set[str]) -> None:
    """Record, with the batch ending at `position`, the scopes it touched."""
    tx.xadd(
        SCOPES, {"position": position, "scopes": " ".join(sorted(scopes))}, maxlen=RETAINED_BATCHES
    )


def category_key(category_id: str) -> str:
    return f"category:{category_id}"


def prices_key(category_id: str) -> str:
    return f"prices:{category_id}"


def _product_key(product_id: str) -> str:
    return f"product:{product_id}"


def _ancestors_key(category_id: str) -> str:
    return f"ancestors:{category_id}"


# Product events that name the product's (new) category.
_PLACING_EVENTS = frozenset({"ProductCreated", "ProductDetailsUpdated"})


async def _ancestors(tx: RedisTx, category_id: str) -> list[str]:
    """The category's ancestors, itself included, decoded once per batch (`tx.memo`)."""
    key = _ancestors_key(category_id)
    known: list[str] | None = tx.memo.get(key)
    if known is None:
        known = sorted(m.decode() for m in await tx.smembers(key))
        tx.memo[key] = known
    return known


class _Changes:
    """What a run of product events does to the categories, written when it ends.

    Counters add up and a product's last price in a subtree wins, so the run's writes
    are one HINCRBY per touched counter and one ZADD/ZREM per sorted set, the same
    outcome as writing each event's deltas as it comes. A counter touched by any event
    is written even when its deltas cancel (HINCRBY by 0 still creates it). Nothing in
    the run reads these keys; a category event, which does, ends the run.
    """

    def __init__(self) -> None:
        self.counters: dict[str, dict[str, int]] = {}
        self.prices: dict[str, dict[str, int | None]] = {}

    def shift(self, ancestors: list[str], deltas: tuple[int, int, int, int]) -> None:
        """Add (count, in_stock, stock, price) deltas to every category in `ancestors`."""
        touched = [(field, delta) for field, delta in zip(COUNTERS, deltas, strict=True) if delta]
        for ancestor in ancestors:
            counters = self.counters.setdefault(ancestor, {})
            for field, delta in touched:
                counters[field] = counters.get(field, 0) + delta

    def price(self, ancestors: list[str], product_id: str, price: int | None) -> None:
        """Enter the product's price in every subtree of `ancestors` (None: remove it)."""
        for ancestor in ancestors:
            self.prices.setdefault(ancestor, {})[product_id] = price

    def write(self, tx: RedisTx) -> set[str]:
        """Buffer the run's writes; returns the categories whose stats they change."""
        for category_id, counters in self.counters.items():
            tx.hincrby_each(category_key(category_id), counters)
        for category_id, prices in self.prices.items():
            removed = [pid for pid, price in prices.items() if price is None]
            if removed:
                tx.zrem(prices_key(category_id), *removed)
            added = {pid: price for pid, price in prices.items() if price is not None}
            if added:
                tx.zadd(prices_key(category_id), added)
        return set(self.counters) | set(self.prices)


async def _apply(tx: RedisTx, changes: _Changes, id: str, move: Move) -> None:
    """One move of product `id` into the run's changes, for the category and its
    ancestors; a sorted set keeps one entry per product, so a new price replaces the
    old one and only a price leaving without another is removed."""
    ancestors = await _ancestors(tx, move.category_id)
    changes.shift(ancestors, move.deltas)
    if move.added_price is not None:
        changes.price(ancestors, id, move.added_price)
    elif move.removed_price is not None:
        changes.price(ancestors, id, None)


def _save(tx: RedisTx, product_id: str, p: Product | None) -> None:
    assert p is not None, "only a product an event changed is saved"
    tx.set(_product_key(product_id), orjson.dumps(list(p)))


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
    tx.sadd(_ancestors_key(id), id)
    if parent is not None:
        above = await _ancestors(tx, parent)
        if above:
            tx.sadd(_ancestors_key(id), *above)
    tx.memo.pop(_ancestors_key(id), None)


class RedisCategoryStatsProjection(AsyncProjection[RedisTx]):
    """The SQLite `CategoryStatsProjection`, folded into Redis keys."""

    name = "category_stats"
    version = 1
    event_types = CATEGORY_AND_PRODUCT_EVENTS

    async def setup(self, tx: RedisTx) -> None:
        """Nothing to create: Redis keys appear with their first write."""

    async def apply_batch(self, tx: RedisTx, events: list[StoredEvent]) -> None:
        """Read the products' last contributions, then the ancestors of every category
        they or the events name (two round trips), then apply the events in order, the
        category deltas of each run of product events written as the run ends.

        Each product's contribution is decoded once and kept as the batch changes it;
        its key is written once, as the batch leaves it (no event of the batch reads it
        through `tx` after its first event, and writing every version in turn would
        leave the last one).
        """
        ids = [e.aggregate_id for e in events if e.type not in CATEGORY_EVENTS]
        keys = [_product_key(pid) for pid in ids]
        await tx.prefetch(strings=keys)
        products: dict[str, Product | None] = {}
        for pid, raw in zip(ids, await tx.mget(keys), strict=True):
            if pid not in products:
                products[pid] = None if raw is None else Product(*orjson.loads(raw))
        categories = {e.data["category_id"] for e in events if e.type in _PLACING_EVENTS}
        categories.update(p.category_id for p in products.values() if p is not None)
        await tx.prefetch(sets=[_ancestors_key(c) for c in sorted(categories)])
        changes = _Changes()
        touched: set[str] = set()
        changed: set[str] = set()
        for event in events:
            if event.type in CATEGORY_EVENTS:
                touched |= changes.write(tx) | {EVERYTHING}
                changes = _Changes()
                if event.type == "CategoryCreated":
                    await _create_category(tx, event.aggregate_id, event.data)
                else:
                    _rename_category(tx, event.aggregate_id, event.data)
            elif await _product_event(tx, changes, event, products):
                changed.add(event.aggregate_id)
        touched |= changes.write(tx)
        for pid in changed:
            _save(tx, pid, products[pid])
        if events and touched:
            record_scopes(tx, events[-1].position, touched)

    async def apply(self, tx: RedisTx, event: StoredEvent) -> None:
        await self.apply_batch(tx, [event])


def _rename_category(tx: RedisTx, id: str, data: dict[str, Any]) -> None:
    tx.hset_existing(category_key(id), {"name": data["name"], "slug": data["slug"]})


async def _product_event(
    tx: RedisTx, changes: _Changes, event: StoredEvent, products: dict[str, Product | None]
) -> bool:
    """Fold one product event into the run's changes and `products` (the batch's
    contributions by product id); whether it changed the product's."""
    pid = event.aggregate_id
    old = products[pid]
    new = next_product(event.type, event.data, old)
    if new is None:
        return False
    for move in contribution_moves(old, new):
        await _apply(tx, changes, pid, move)
    products[pid] = new
    return True
