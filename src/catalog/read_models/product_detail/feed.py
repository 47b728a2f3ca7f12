"""Live product documents for subscribers, fed by the product-detail checkpoint.

One task per process follows the checkpoint (a notification, not a poll) and runs one
indexed query per advance for the documents changed since, then hands each to the
subscribers of that product. The cost of a commit does not grow with the number of
subscribers, and a slow subscriber only ever misses intermediate versions: its queue
keeps the newest.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Collection

from catalog.read_models.product_detail import sqlite as product_detail
from tandem.consistency import VersionWatch
from tandem.stores.switchable import Reader, SwitchableReads

QUEUE_SIZE = 8

Update = tuple[int, bytes]  # (position of the change, the document as JSON)
# (product id, position of its last change, its document) for the changes after a
# position; documents of products outside `wanted` may be left out.
Changes = Callable[[int, Collection[str]], Awaitable[list[tuple[str, int, bytes]]]]


def sqlite_changes(reader: Reader) -> Changes:
    """Changes from the SQLite product-detail table: one indexed query, inline."""

    async def changes(since: int, _wanted: Collection[str]) -> list[tuple[str, int, bytes]]:
        found: list[tuple[str, int, bytes]] = reader.call(
            functools.partial(product_detail.changed_since, position=since)
        )
        return found

    return changes


def redis_changes(switchable: SwitchableReads) -> Changes:
    """Changes from the Redis projection's change streams (one per partition): every
    version applied, in order per product, even several of one product in one batch.
    After a rebuild switches copies, the new copy's streams are read from their start
    (entries at or below `since` are skipped)."""
    following = switchable.target
    cursors = ["-"] * following.partitions

    async def changes(since: int, wanted: Collection[str]) -> list[tuple[str, int, bytes]]:
        nonlocal following, cursors
        reads = switchable.target
        if reads is not following:
            following, cursors = reads, ["-"] * reads.partitions
        found: list[tuple[str, int, bytes]] = []
        for partition in range(reads.partitions):
            while True:
                rows = await reads.feed_after(cursors[partition], partition=partition)
                for entry, pid, position, doc in rows:
                    cursors[partition] = entry
                    if position > since and pid in wanted:
                        found.append((pid, position, doc))
                if len(rows) < 1000:
                    break
        return sorted(found, key=lambda row: row[1])

    return changes


class ProductFeed:
    """Fans changed product documents out to per-product subscriber queues."""

    def __init__(self, changes: Changes, checkpoint: VersionWatch) -> None:
        self._changes = changes
        self._checkpoint = checkpoint
        self._subscribers: dict[str, set[asyncio.Queue[Update]]] = {}
        self._seen = checkpoint.value

    @property
    def subscriber_count(self) -> int:
        return sum(len(queues) for queues in self._subscribers.values())

    def subscribe(self, product_id: str) -> asyncio.Queue[Update]:
        queue: asyncio.Queue[Update] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._subscribers.setdefault(product_id, set()).add(queue)
        return queue

    def unsubscribe(self, product_id: str, queue: asyncio.Queue[Update]) -> None:
        queues = self._subscribers.get(product_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._subscribers[product_id]

    async def run(self) -> None:
        """Follow the checkpoint until cancelled."""
        advanced = self._checkpoint.listen()
        try:
            while True:
                await advanced.get()
                await self._publish()
        finally:
            self._checkpoint.unlisten(advanced)

    async def _publish(self) -> None:
        if not self._subscribers:
            self._seen = self._checkpoint.value
            return
        # Every change at or below the checkpoint read now is in the store already, so
        # after this query nothing at or below it is left to send.
        reached = self._checkpoint.value
        rows = await self._changes(self._seen, self._subscribers.keys())
        self._seen = max(self._seen, reached)
        for product_id, position, doc in rows:
            self._seen = max(self._seen, position)
            for queue in self._subscribers.get(product_id, ()):
                if queue.full():
                    queue.get_nowait()  # a slow reader needs the newest version only
                queue.put_nowait((position, doc))
