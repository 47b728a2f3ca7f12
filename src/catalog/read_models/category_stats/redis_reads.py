"""Category stats and the category tree answered from the Redis read model (services
profile), with the same documents and `NotFound` as the SQLite reads."""

from __future__ import annotations

from typing import Any

from catalog.domain.errors import NotFound
from catalog.read_models.category_stats import redis as category_stats
from catalog.read_models.money import average_cents, optional_from_cents
from catalog.read_models.queries import GetCategoryStats, ListCategories
from catalog.read_models.redis_common import RedisReads, text, text_hash
from tandem.bus import QueryBus
from tandem.stores.redis import as_bytes


class RedisCategoryStatsReads(RedisReads):
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
        return _stats(query.category_id, text_hash(row), lowest, highest)

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
            (id, text(name) or "", text(slug) or "", text(parent), int(count or 0))
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
    average = average_cents(price_sum, count) if count > 0 else None
    low = int(lowest[0][1]) if count > 0 and lowest else None
    high = int(highest[0][1]) if count > 0 and highest else None
    return {
        "category_id": category_id,
        "name": row.get("name", ""),
        "product_count": count,
        "in_stock_count": int(row.get("in_stock_count", 0)),
        "min_price": optional_from_cents(low),
        "max_price": optional_from_cents(high),
        "avg_price": optional_from_cents(average),
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
