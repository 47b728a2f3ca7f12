"""`GetProduct` answered from the Redis product-detail read model (services profile),
with the same document and `NotFound` as the SQLite reads, and the change feed the
detail cache follows."""

from __future__ import annotations

import orjson

from catalog.domain.errors import NotFound
from catalog.read_models.product_detail import redis as product_detail
from catalog.read_models.product_detail.cache import Change, FeedGap
from catalog.read_models.queries import GetProduct
from catalog.read_models.redis_common import RedisReads
from catalog.read_models.shapes import ProductDocument
from tandem.bus import QueryBus
from tandem.projections.base import AsyncProjection
from tandem.projections.partitions import part_name, partition_of
from tandem.stores.redis import RedisClient, RedisTx, as_bytes

# Stream entries read per round trip while following the feed.
FEED_BATCH = 1000


def _entry_id(entry: str) -> tuple[int, int]:
    ms, _, seq = entry.partition("-")
    return int(ms), int(seq or 0)


class RedisProductDetailReads(RedisReads):
    """`GetProduct`: one GET of the stored JSON document, in its partition's namespace
    when the projection is split (`tandem.projections.partitions`)."""

    projection = product_detail.RedisProductDetailProjection

    def __init__(
        self,
        client: RedisClient,
        prefix: str = "tandem",
        partitions: int = 1,
        stored_as: type[AsyncProjection[RedisTx]] | None = None,
    ) -> None:
        super().__init__(client, prefix, stored_as)
        name = self._stored.name
        self.partitions = partitions
        self._namespaces = (
            [self.namespace_of(part_name(name, i)) for i in range(partitions)]
            if partitions > 1
            else [self._namespace]
        )

    def document_key(self, product_id: str) -> str:
        owner = partition_of(product_id, self.partitions) if self.partitions > 1 else 0
        return self._namespaces[owner] + product_detail.product_key(product_id)

    async def get_product(self, query: GetProduct) -> ProductDocument:
        raw = await self._client.get(self.document_key(query.product_id))
        if raw is None:
            raise NotFound("product", query.product_id)
        document: ProductDocument = orjson.loads(raw)
        return document

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

    async def follow_from(self, reached: int) -> list[str]:
        """The detail cache's cursor: the newest entry of each partition's stream (what
        `reached` promises is in the documents already)."""
        return [await self.feed_end(p) for p in range(self.partitions)]

    async def changes_after(self, cursors: list[str]) -> tuple[list[Change], list[str]]:
        """Every document version after the cursors, in apply order per partition (so
        per product), with the cursors after them; `FeedGap` when a stream was trimmed
        past its cursor."""
        changes: list[Change] = []
        cursors = list(cursors)
        for partition in range(self.partitions):
            while True:
                cursor = cursors[partition]
                oldest, rows = await self.feed_window(cursor, FEED_BATCH, partition)
                if oldest is not None and _entry_id(oldest) > _entry_id(cursor):
                    raise FeedGap(f"stream {partition} trimmed past {cursor}")
                for entry, product_id, position, body in rows:
                    changes.append((product_id, position, body))
                    cursors[partition] = entry
                if len(rows) < FEED_BATCH:
                    break
        return changes, cursors

    def register(self, bus: QueryBus) -> None:
        bus.register(GetProduct, self.get_product, read_model=self.projection.name)
