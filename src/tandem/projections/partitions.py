"""Splitting one projection across workers by aggregate.

A projection that declares `partitioned_by` (aggregate types whose events touch only
that aggregate's documents) can run as N partitions, each its own projection: its own
name (`product_detail.p0` …), checkpoint, lease and store namespace. Partition `i`
applies the events of partitioned aggregates whose id hashes to `i`, and every other
event (reference data, such as categories for product documents) in full, so each
partition is a complete fold of its share.

Every partition reads the whole log (or stream) and skips the others' events: reading
is cheap, applying is what gets split. So an idle partition still advances with the
log, and the projection's checkpoint, the minimum over its partitions, never waits on
one that has nothing to do — nor passes a version one of them has not applied.
"""

from __future__ import annotations

import zlib
from typing import Any, TypeVar

from tandem.messages import StoredEvent
from tandem.projections.base import AsyncProjection
from tandem.projections.checkpoints import BatchApplying

Tx = TypeVar("Tx")


def partition_of(aggregate_id: str, count: int) -> int:
    """The partition that owns an aggregate: stable across processes and restarts."""
    return zlib.crc32(aggregate_id.encode()) % count


def part_name(name: str, index: int) -> str:
    return f"{name}.p{index}"


class Partition(AsyncProjection[Tx]):
    """One partition of `inner` (built by `partitions`, which sets the class fields)."""

    index: int
    count: int

    def __init__(self, inner: AsyncProjection[Tx]) -> None:
        self.inner = inner

    def owns(self, event: StoredEvent) -> bool:
        if event.aggregate_type not in self.inner.partitioned_by:
            return True
        return partition_of(event.aggregate_id, self.count) == self.index

    async def setup(self, tx: Tx) -> None:
        await self.inner.setup(tx)

    async def apply(self, tx: Tx, event: StoredEvent) -> None:
        if self.owns(event):
            await self.inner.apply(tx, event)

    async def apply_batch(self, tx: Tx, events: list[StoredEvent]) -> None:
        """The owned events, as one batch when the inner projection folds batches."""
        owned = [e for e in events if self.owns(e)]
        if owned and isinstance(self.inner, BatchApplying):
            await self.inner.apply_batch(tx, owned)
            return
        for event in owned:
            await self.inner.apply(tx, event)


def partitions(projection: type[AsyncProjection[Any]], count: int) -> list[Partition[Any]]:
    """`count` partitions of `projection` (the projection itself when `count` is 1)."""
    if count < 1:
        raise ValueError("a projection has at least one partition")
    if count > 1 and not projection.partitioned_by:
        raise ValueError(f"{projection.name} does not declare partitioned_by")
    parts: list[Partition[Any]] = []
    for index in range(count):
        cls = type(
            f"{projection.__name__}Part{index}",
            (Partition,),
            {
                "name": part_name(projection.name, index) if count > 1 else projection.name,
                "version": projection.version,
                "event_types": projection.event_types,
                "partitioned_by": projection.partitioned_by,
                "index": index,
                "count": count,
            },
        )
        parts.append(cls(projection()))
    return parts
