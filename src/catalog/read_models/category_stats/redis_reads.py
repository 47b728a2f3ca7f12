"""Category stats and the category tree answered from the Redis read model (services
profile), with the same documents and `NotFound` as the SQLite reads."""

from __future__ import annotations

from typing import Any

from redis.exceptions import ResponseError

from catalog.domain.errors import NotFound
from catalog.read_models.category_stats import redis as category_stats
from catalog.read_models.category_stats.rules import stats_document, tree_document
from catalog.read_models.queries import GetCategoryStats, ListCategories
from catalog.read_models.redis_common import RedisReads, text, text_hash
from catalog.read_models.scopes import ScopeChanges
from catalog.read_models.shapes import CategoryStats, CategoryTree
from tandem.bus import QueryBus
from tandem.stores.redis import CHECKPOINT_KEY, as_bytes


def _text(value: Any) -> str:
    return as_bytes(value).decode()


def _entry(entry_id: str) -> tuple[int, int]:
    """A stream entry id in the order Redis gives them."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _unless_error(value: Any) -> Any:
    """A MULTI's reply to one command, raised if Redis refused it."""
    if isinstance(value, Exception):
        raise value
    return value


# Scope changes read per call at most; the caller asks again from the last one.
SCOPES_PER_READ = 10_000


class RedisCategoryStatsReads(RedisReads):
    """Stats of one category subtree, and the whole tree with product counts."""

    projection = category_stats.RedisCategoryStatsProjection

    async def get_category_stats(self, query: GetCategoryStats) -> CategoryStats:
        prices = self.key(category_stats.prices_key(query.category_id))
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.hgetall(self.key(category_stats.category_key(query.category_id)))
            pipe.zrange(prices, 0, 0, withscores=True)
            pipe.zrange(prices, -1, -1, withscores=True)
            row, lowest, highest = await pipe.execute()
        if not row:
            raise NotFound("category", query.category_id)
        return _stats(query.category_id, text_hash(row), lowest, highest)

    async def scope_changes(self, after: str | None = None) -> ScopeChanges:
        """The scope changes recorded after the stream entry `after` (None: from now),
        with the checkpoint, as of one moment (one MULTI). The stream is only ever cut
        from its start, so entries are missing past `after` exactly when the stream has
        lost some and its first entry is later than `after`."""
        scopes = self.key(category_stats.SCOPES)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.get(self.key(CHECKPOINT_KEY))
            if after is None:
                pipe.xrevrange(scopes, "+", "-", 1)
            else:
                pipe.xinfo_stream(scopes)
                pipe.xrange(scopes, f"({after}", "+", SCOPES_PER_READ)
            found = await pipe.execute(raise_on_error=False)
        checkpoint = int(_unless_error(found[0]) or 0)
        if after is None:
            newest = _unless_error(found[1])
            return ScopeChanges(checkpoint, _text(newest[0][0]) if newest else "0-0")
        info, entries = found[1], _unless_error(found[2])
        if isinstance(info, ResponseError) and "no such key" in str(info):
            info = None  # nothing recorded yet
        info = _unless_error(info)
        gap = bool(info) and int(info["entries-added"]) > int(info["length"])
        if gap:
            first = info["first-entry"]
            gap = first is None or _entry(_text(first[0])) > _entry(after)
        rows = [
            (int(fields[b"position"]), scope)
            for _, fields in entries
            for scope in as_bytes(fields[b"scopes"]).decode().split(" ")
        ]
        cursor = _text(entries[-1][0]) if entries else after
        if len(entries) == SCOPES_PER_READ:
            # More to read: hold the watermark at what these entries cover.
            checkpoint = min(checkpoint, int(entries[-1][1][b"position"]))
        return ScopeChanges(checkpoint, cursor, gap, rows)

    async def list_categories(self, query: ListCategories) -> CategoryTree:
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
        return {"categories": tree_document(nodes)}

    def register(self, bus: QueryBus) -> None:
        bus.register(GetCategoryStats, self.get_category_stats, read_model=self.projection.name)
        bus.register(ListCategories, self.list_categories, read_model=self.projection.name)


def _stats(
    category_id: str,
    row: dict[str, str],
    lowest: list[tuple[Any, float]],
    highest: list[tuple[Any, float]],
) -> CategoryStats:
    """The stats document of a category hash and the ends of its price set."""
    return stats_document(
        category_id,
        row.get("name", ""),
        int(row.get("product_count", 0)),
        int(row.get("in_stock_count", 0)),
        int(row.get("total_stock", 0)),
        int(row.get("price_sum_cents", 0)),
        int(lowest[0][1]) if lowest else None,
        int(highest[0][1]) if highest else None,
    )
