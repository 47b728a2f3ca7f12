"""Product documents kept in process memory (`tandem.nearcache`), on either profile.

Each API process caches `product id → (position of its last change, response)` and
follows the changes of the product-detail copy it serves (`DocumentCopy`): on the
services profile the projection's change streams in Redis, one per partition, written by
the same script as the documents and the checkpoint (`RedisProductDetailReads`); on the
embedded profile the `changed_at` column of the SQLite table, which the projection in
this very process writes in the transaction of each batch (`SqliteDocuments`).
Whenever the projection's checkpoint advances to `C`, the copy holds every change up to
`C`: the follower reads the changes after its cursor, applies them, and raises the
watermark to `C`. A read needing `min_version ≤ W` is answered from memory; any other
read, and every miss, goes through the query bus (waiting on the checkpoint as usual)
and fills the cache with the document and its position, read in one transaction.

The cache is dropped, and the cursor placed at the end of the changes again, when the
feed lost changes the follower had not read (a Redis stream trimmed past the cursor),
when reading fails, and when a rebuild switches the process to another copy (seen on the
first read after the switch); it stays dropped while the store is behind what this
process served (wiped, or restarted without its last writes) and resumes once the store
is back.

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
from typing import Any, Protocol, TypeVar

from catalog.domain.errors import NotFound
from catalog.read_models.documents import Document
from catalog.read_models.following import follow
from tandem.bus import QueryBus
from tandem.consistency import VersionWatch
from tandem.loads import Loads
from tandem.messages import Query
from tandem.nearcache import DEFAULT_CAPACITY, NearCache
from tandem.projections.status import Tracked

log = logging.getLogger("catalog.detail_cache")

# Entries kept per process (0: no cache), from TANDEM_DETAIL_CACHE.
SIZE_SETTING = "TANDEM_DETAIL_CACHE"

Cursor = TypeVar("Cursor")
Change = tuple[str, int, bytes]
"""(product id, position of the change, the document as stored)."""


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


class FeedGap(Exception):
    """The feed no longer holds changes after the cursor: the follower fell behind."""


class DocumentCopy(Protocol[Cursor]):
    """One stored copy of product detail, as the cache reads it and follows its changes."""

    async def document(self, product_id: str) -> tuple[int, bytes] | None:
        """The stored document and the position of its last change, read together."""
        ...

    async def follow_from(self, reached: int) -> Cursor:
        """A cursor after every change the copy holds, given that it holds every change
        up to `reached` (the checkpoint read just before)."""
        ...

    async def changes_after(self, cursor: Cursor) -> tuple[list[Change], Cursor]:
        """The changes after `cursor`, oldest first per product, and the cursor after
        them; `FeedGap` when some of them are lost."""
        ...


class ServedCopy(Protocol):
    """Whichever copy queries read now (`target`): another object once a rebuild
    switched (`SwitchableReads` on the services profile, `SqliteDocuments` embedded)."""

    @property
    def target(self) -> DocumentCopy[Any]: ...


class DetailCache:
    """The near cache of product documents, its feed follower and its fills."""

    def __init__(
        self,
        served: ServedCopy,
        checkpoint: VersionWatch,
        bus: QueryBus,
        capacity: int,
        tracked: Any = None,
    ) -> None:
        # `served`: the copy of product detail served now; `checkpoint`: how far its
        # projection has applied; `tracked`: the projection as this process follows it,
        # whose `went_back` says the store lost what it held.
        self.cache: NearCache[str, Document] = NearCache(capacity)
        self._served = served
        self._checkpoint = checkpoint
        self._tracked = tracked
        self._bus = bus
        self._following: DocumentCopy[Any] | None = None
        self._cursor: Any = None
        self._wake = asyncio.Event()
        self._loads: Loads[str, tuple[int, Document]] = Loads()

    def register(self, bus: QueryBus) -> None:
        bus.register(GetProductDocument, self._document, read_model="product_detail")

    async def _document(self, query: GetProductDocument) -> tuple[int, bytes]:
        found = await self._served.target.document(query.product_id)
        if found is None:
            raise NotFound("product", query.product_id)
        return found

    # -- reads -------------------------------------------------------------------------

    def lookup(self, product_id: str, min_version: int) -> tuple[int, Document] | None:
        """(version to report, document) from memory, or None."""
        if self._served.target is not self._following or self._went_back():
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
        """Read through the query bus (which waits for `min_version`) and fill;
        concurrent misses of one product share one read (`tandem.loads`)."""
        return await self._loads.load(
            product_id, min_version, lambda: self._fetch(product_id, min_version, timeout)
        )

    async def _fetch(
        self, product_id: str, min_version: int, timeout: float
    ) -> tuple[int, Document]:
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
        """Follow the product-detail changes until cancelled."""
        await follow(self._checkpoint, self._wake, self._sync, self._dropped, "detail cache")

    def _dropped(self) -> None:
        self.cache.drop()
        self._following = None

    async def _sync(self) -> None:
        copy = self._served.target
        if copy is not self._following:
            await self._position(copy)
            return
        reached = self._checkpoint.value
        try:
            changes, cursor = await copy.changes_after(self._cursor)
        except FeedGap as gap:
            log.info("detail cache: %s; dropped", gap)
            await self._position(copy)
            return
        if copy is not self._served.target:
            self._wake.set()  # switched meanwhile: placed again right away
            return
        cache = self.cache
        for product_id, position, body in changes:
            if cache.wants(product_id):
                cache.apply(product_id, position, Document.of(body))
        self._cursor = cursor
        cache.advance(reached)

    async def _position(self, copy: DocumentCopy[Any]) -> None:
        """Empty the cache and follow the copy's changes from their end: every change up
        to the checkpoint seen first is in the documents already."""
        self.cache.drop()
        self._following = None
        if self._went_back():
            return  # placed again at a later advance, once the store is back
        reached = self._checkpoint.value
        cursor = await copy.follow_from(reached)
        if copy is not self._served.target:
            self._wake.set()
            return
        self._following, self._cursor = copy, cursor
        self.cache.resume(reached)


def start(bus: QueryBus, served: ServedCopy, tracked: Tracked) -> DetailCache | None:
    """Wire the cache into an API process (None when sized 0): `served` is the copy of
    product detail queries read now, `tracked` the read model as this process follows it."""
    capacity = cache_size()
    if capacity == 0:
        return None
    detail = DetailCache(served, tracked.checkpoint, bus, capacity, tracked)
    detail.register(bus)
    return detail
