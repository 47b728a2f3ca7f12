"""Product documents kept in process memory on the services profile (`tandem.nearcache`).

Each API process caches `product id → (position of its last change, response)` and
follows the product-detail projection's change streams (one per partition, written by
the same Redis script as the documents and the checkpoint). Whenever the projection's
checkpoint advances to `C` (the minimum over partitions), the streams hold every change
up to `C`: the follower reads them from its cursors, applies them, and raises the
watermark to `C`. A read needing `min_version ≤ W` is answered from memory; any other
read, and every miss, goes through the query bus (waiting on the checkpoint as usual)
and fills the cache with the document and its position, read in one transaction.

The cache is dropped, and the cursors placed at the streams' ends again, when a stream
was trimmed past a cursor (the follower fell behind), when Redis fails, and when a
rebuild switches the process to another copy (seen on the first read after the switch);
it stays dropped while the store is behind what this process served (wiped, or
restarted without its last writes) and resumes once the store is back.

The position reported as `X-Read-Version` is never below the document's own: a client
that passes it back as `min_version` can never be served an older version by another
process.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from catalog.domain.errors import NotFound
from catalog.read_models.documents import Document
from tandem.bus import QueryBus
from tandem.consistency import VersionWatch
from tandem.messages import Query
from tandem.nearcache import DEFAULT_CAPACITY, NearCache
from tandem.projections.status import Tracked
from tandem.stores.switchable import SwitchableReads

log = logging.getLogger("catalog.detail_cache")

# Entries kept per process (0: no cache), from TANDEM_DETAIL_CACHE.
SIZE_SETTING = "TANDEM_DETAIL_CACHE"
FEED_BATCH = 1000
RETRY_AFTER = 0.5


def cache_size(env: Mapping[str, str] | None = None) -> int:
    raw = (os.environ if env is None else env).get(SIZE_SETTING, "").strip()
    if not raw:
        return DEFAULT_CAPACITY
    if not raw.isdigit():
        raise ValueError(f"{SIZE_SETTING} must be a count of entries, not {raw!r}")
    return int(raw)


@dataclass(frozen=True, kw_only=True)
class GetProductDocument(Query):
    """The stored document of one product with the position of its last change."""

    product_id: str


def _entry_id(entry: str) -> tuple[int, int]:
    ms, _, seq = entry.partition("-")
    return int(ms), int(seq or 0)


class DetailCache:
    """The near cache of product documents, its feed follower and its fills."""

    def __init__(
        self,
        switchable: Any,
        checkpoint: VersionWatch,
        bus: QueryBus,
        capacity: int,
        tracked: Any = None,
    ) -> None:
        # `switchable`: the `SwitchableReads` of product detail, whose target is the
        # `RedisProductDetailReads` of the copy served now; `tracked`: its projection as
        # this process follows it, whose `went_back` says the store lost what it held.
        self.cache: NearCache[str, Document] = NearCache(capacity)
        self._switchable = switchable
        self._checkpoint = checkpoint
        self._tracked = tracked
        self._bus = bus
        self._following: Any = None
        self._cursors: list[str] = []
        self._wake = asyncio.Event()

    def register(self, bus: QueryBus) -> None:
        bus.register(GetProductDocument, self._document, read_model="product_detail")

    async def _document(self, query: GetProductDocument) -> tuple[int, bytes]:
        found: tuple[int, bytes] | None = await self._switchable.target.document(query.product_id)
        if found is None:
            raise NotFound("product", query.product_id)
        return found

    # -- reads -------------------------------------------------------------------------

    def lookup(self, product_id: str, min_version: int) -> tuple[int, Document] | None:
        """(version to report, document) from memory, or None."""
        if self._switchable.target is not self._following or self._went_back():
            if self.cache.serving:
                self.cache.drop()
                self._following = None
                self._wake.set()
            return None
        entry = self.cache.get(product_id, min_version)
        if entry is None:
            return None
        return max(entry[0], self.cache.watermark.value), entry[1]

    async def load(self, product_id: str, min_version: int, timeout: float) -> tuple[int, Document]:
        """Read through the query bus (which waits for `min_version`) and fill."""
        fill = self.cache.begin_fill(product_id)
        try:
            result = await self._bus.ask(
                GetProductDocument(product_id=product_id),
                min_version=min_version,
                timeout=timeout,
            )
        except BaseException:
            self.cache.abandon(fill)
            raise
        position, body = result.value
        document = Document.of(body)
        self.cache.finish_fill(fill, position, document)
        return max(position, result.read_version), document

    def _went_back(self) -> bool:
        # Until the store has folded back to where it was, nothing it holds is cached.
        return bool(getattr(self._tracked, "went_back", False))

    # -- the feed ----------------------------------------------------------------------

    async def run(self) -> None:
        """Follow the change streams until cancelled."""
        forward = asyncio.create_task(self._forward(), name="detail-cache-wake")
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                try:
                    await self._sync()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("detail cache dropped: %s: %s", type(exc).__name__, exc)
                    self.cache.drop()
                    self._following = None
                    await asyncio.sleep(RETRY_AFTER)
                    self._wake.set()
        finally:
            forward.cancel()

    async def _forward(self) -> None:
        self._wake.set()
        advanced = self._checkpoint.listen()
        try:
            while True:
                await advanced.get()
                self._wake.set()
        finally:
            self._checkpoint.unlisten(advanced)

    async def _sync(self) -> None:
        reads = self._switchable.target
        if reads is not self._following:
            await self._position(reads)
            return
        reached = self._checkpoint.value
        for partition in range(reads.partitions):
            while True:
                cursor = self._cursors[partition]
                oldest, rows = await reads.feed_window(cursor, FEED_BATCH, partition)
                if reads is not self._switchable.target:
                    self._wake.set()  # switched meanwhile: placed again right away
                    return
                if oldest is not None and _entry_id(oldest) > _entry_id(cursor):
                    log.info("detail cache: feed trimmed past the cursor; dropped")
                    await self._position(reads)
                    return
                for entry, product_id, position, body in rows:
                    self.cache.apply(product_id, position, Document.of(body))
                    self._cursors[partition] = entry
                if len(rows) < FEED_BATCH:
                    break
        self.cache.advance(reached)

    async def _position(self, reads: Any) -> None:
        """Empty the cache and follow the streams from their ends: every change up to the
        checkpoint seen first is in the documents already."""
        self.cache.drop()
        self._following = None
        if self._went_back():
            return  # placed again at a later advance, once the store is back
        reached = self._checkpoint.value
        ends = [await reads.feed_end(p) for p in range(reads.partitions)]
        if reads is not self._switchable.target:
            self._wake.set()
            return
        self._following, self._cursors = reads, ends
        self.cache.resume(reached)


def start(bus: QueryBus, reads: SwitchableReads, tracked: Tracked) -> DetailCache | None:
    """Wire the cache into a services API process (None when sized 0): `reads` are the
    product-detail queries, `tracked` the read model as this process follows it."""
    capacity = cache_size()
    if capacity == 0:
        return None
    detail = DetailCache(reads, tracked.checkpoint, bus, capacity, tracked)
    detail.register(bus)
    return detail
