"""Product detail on Redis: one display-ready JSON document per product, one GET a read.

Keys (relative to the projection's namespace):

- `product:{id}`: the document as the orjson bytes a query returns, the same document
  the SQLite fold stores;
- `category:{id}`: JSON `{"name", "parent_id", "path"}`, the `pd_categories` row;
- `children:{id}`: set of the category's child ids (SQLite's `parent_id` index);
- `products_in:{id}`: set of the ids of products in the category (SQLite's
  `category_id` index), so a rename finds the documents to rewrite without a scan;
- `changed`: sorted set of product id by the position of the last event that changed
  its document (SQLite's `changed_at`), for live feeds.

A batch first reads every document and category its product events need in one round
trip (`apply_batch`); then each product event changes its document in memory and adds
the new version to the feed, and each changed document is written once (`_Documents`).
A rename walks the renamed subtree: per category one read of the node, one of its
children, one of its products and one MGET of their documents, O(affected documents)
in all, never O(all products). Membership sets may hold a stale id only if a product
were created twice; the cascade checks each document's category before rewriting it,
exactly like SQLite's `WHERE category_id = ?`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from catalog.domain.events import CATEGORY_AND_PRODUCT_EVENTS
from catalog.read_models.product_detail.rules import (
    category_block,
    change_document,
    created_document,
)
from catalog.read_models.shapes import CategoryBlock
from tandem.messages import StoredEvent
from tandem.projections.base import AsyncProjection
from tandem.stores.redis import RedisTx

CHANGED = "changed"
# Every document version in apply order, for live subscribers: one batch can hold
# several versions of a product, and the document key keeps only the newest.
FEED = "feed"
FEED_LENGTH = 10_000


def product_key(product_id: str) -> str:
    return f"product:{product_id}"


def _category_key(category_id: str) -> str:
    return f"category:{category_id}"


async def _category(tx: RedisTx, category_id: str) -> dict[str, Any] | None:
    raw = await tx.get(_category_key(category_id))
    return None if raw is None else dict(orjson.loads(raw))


async def _category_block(tx: RedisTx, category_id: str) -> CategoryBlock:
    node = await _category(tx, category_id)
    if node is None:
        return category_block(category_id)
    return category_block(category_id, node["name"], node["path"])


class _Documents:
    """Product documents changed by a run of product events, kept decoded.

    Each event's version goes to the feed as it is applied; the document key and its
    `changed` score take only the run's last version of each document, written when the
    run ends (before a category event, which reads documents through the batch, and at
    the end of the batch): what writing every version would have left.
    """

    def __init__(self) -> None:
        self.changed: dict[str, tuple[dict[str, Any], bytes, int]] = {}

    async def load(self, tx: RedisTx, product_id: str) -> dict[str, Any] | None:
        if product_id in self.changed:
            return self.changed[product_id][0]
        raw = await tx.get(product_key(product_id))
        return None if raw is None else dict(orjson.loads(raw))

    def store(self, tx: RedisTx, doc: dict[str, Any], position: int) -> None:
        body = orjson.dumps(doc)
        self.changed[doc["id"]] = (doc, body, position)
        _feed(tx, doc["id"], position, body)

    def write(self, tx: RedisTx) -> None:
        if not self.changed:
            return
        for product_id, (_doc, body, _position) in self.changed.items():
            tx.set(product_key(product_id), body)
        tx.zadd(CHANGED, {pid: position for pid, (_d, _b, position) in self.changed.items()})
        self.changed = {}


def _reads(events: list[StoredEvent]) -> list[str]:
    """The keys `apply` reads first for these events (a rename's walk is left to it)."""
    keys: list[str] = []
    for event in events:
        kind = event.type
        if kind == "ProductCreated":
            keys.append(_category_key(event.data["category_id"]))
        elif kind == "CategoryCreated":
            if event.data["parent_id"] is not None:
                keys.append(_category_key(event.data["parent_id"]))
        elif kind != "CategoryRenamed":
            keys.append(product_key(event.aggregate_id))
            if kind == "ProductDetailsUpdated":
                keys.append(_category_key(event.data["category_id"]))
    return keys


def _store(tx: RedisTx, doc: Mapping[str, Any], position: int) -> None:
    body = orjson.dumps(doc)
    tx.set(product_key(doc["id"]), body)
    tx.zadd(CHANGED, {doc["id"]: position})
    _feed(tx, doc["id"], position, body)


def _feed(tx: RedisTx, product_id: str, position: int, body: bytes) -> None:
    tx.xadd(FEED, {"id": product_id, "position": position, "doc": body}, maxlen=FEED_LENGTH)


_DOCUMENTS = "product_detail.documents"  # the batch's `_Documents`, in `tx.memo`


class RedisProductDetailProjection(AsyncProjection[RedisTx]):
    """The SQLite `ProductDetailProjection`, folded into Redis keys."""

    name = "product_detail"
    version = 1
    # A product's events touch only its document; categories (and their renames) are
    # folded in full by every partition.
    partitioned_by = frozenset({"product"})
    event_types = CATEGORY_AND_PRODUCT_EVENTS

    async def setup(self, tx: RedisTx) -> None:
        """Nothing to create: Redis keys appear with their first write."""

    async def apply_batch(self, tx: RedisTx, events: list[StoredEvent]) -> None:
        """Read what the events need in one round trip, then apply them in order."""
        await tx.prefetch(strings=_reads(events))
        documents = tx.memo[_DOCUMENTS] = _Documents()
        try:
            for event in events:
                await self.apply(tx, event)
        finally:
            del tx.memo[_DOCUMENTS]
        documents.write(tx)

    async def apply(self, tx: RedisTx, event: StoredEvent) -> None:
        documents: _Documents | None = tx.memo.get(_DOCUMENTS)
        if documents is None:  # not within `apply_batch`: a batch of one
            await self.apply_batch(tx, [event])
        elif event.type == "CategoryCreated":
            documents.write(tx)
            await self._create_category(tx, event.aggregate_id, event.data)
        elif event.type == "CategoryRenamed":
            documents.write(tx)
            await self._rename(tx, event.aggregate_id, event.data["name"], event.position)
        elif event.type == "ProductCreated":
            await self._create_product(tx, documents, event)
        else:
            await self._change_product(tx, documents, event)

    async def _create_category(self, tx: RedisTx, id: str, data: dict[str, Any]) -> None:
        parent = data["parent_id"]
        path: list[str] = []
        if parent is not None:
            node = await _category(tx, parent)
            path = node["path"] if node is not None else []
            tx.sadd(f"children:{parent}", id)
        node = {"name": data["name"], "parent_id": parent, "path": [*path, data["name"]]}
        tx.set(_category_key(id), orjson.dumps(node))

    async def _create_product(self, tx: RedisTx, documents: _Documents, event: StoredEvent) -> None:
        data = event.data
        category = await _category_block(tx, data["category_id"])
        doc = created_document(event.aggregate_id, event.aggregate_version, data, category)
        tx.sadd(f"products_in:{data['category_id']}", event.aggregate_id)
        # Kept as the later events of the batch change it, like a document loaded.
        documents.store(tx, dict(doc), event.position)

    async def _change_product(self, tx: RedisTx, documents: _Documents, event: StoredEvent) -> None:
        data = event.data
        doc = await documents.load(tx, event.aggregate_id)
        if doc is None:
            return
        moved_to = None
        if event.type == "ProductDetailsUpdated":
            before, after = doc["category"]["id"], data["category_id"]
            if before != after:
                tx.srem(f"products_in:{before}", event.aggregate_id)
                tx.sadd(f"products_in:{after}", event.aggregate_id)
            moved_to = await _category_block(tx, after)
        change_document(doc, event.type, data, event.aggregate_version, moved_to)
        documents.store(tx, doc, event.position)

    async def _rename(self, tx: RedisTx, category_id: str, name: str, position: int) -> None:
        node = await _category(tx, category_id)
        if node is None:
            return  # a category this read model never saw: nothing to rewrite
        node["name"] = name
        tx.set(_category_key(category_id), orjson.dumps(node))
        changed = await self._repath_subtree(tx, category_id)
        for cid, block in changed:
            await self._rewrite_products(tx, cid, block, position)

    async def _repath_subtree(
        self, tx: RedisTx, category_id: str
    ) -> list[tuple[str, CategoryBlock]]:
        """Recompute the path of the category and every descendant; their new blocks."""
        changed: list[tuple[str, CategoryBlock]] = []
        frontier: list[tuple[str, str | None]] = [(category_id, None)]
        while frontier:
            current, via = frontier.pop()
            node = await _category(tx, current)
            # `via` is the parent that listed this child: a stale listing is skipped.
            if node is None or (via is not None and node["parent_id"] != via):
                continue
            parent = node["parent_id"]
            parent_node = await _category(tx, parent) if parent is not None else None
            parent_path = parent_node["path"] if parent_node is not None else []
            node["path"] = [*parent_path, node["name"]]
            tx.set(_category_key(current), orjson.dumps(node))
            changed.append((current, category_block(current, node["name"], node["path"])))
            children = await tx.smembers(f"children:{current}")
            frontier.extend((child.decode(), current) for child in sorted(children))
        return changed

    async def _rewrite_products(
        self, tx: RedisTx, category_id: str, block: CategoryBlock, position: int
    ) -> None:
        ids = sorted(m.decode() for m in await tx.smembers(f"products_in:{category_id}"))
        for raw in await tx.mget([product_key(pid) for pid in ids]):
            if raw is None:
                continue
            doc = orjson.loads(raw)
            if doc["category"]["id"] != category_id:
                continue
            doc["category"] = block
            _store(tx, doc, position)
