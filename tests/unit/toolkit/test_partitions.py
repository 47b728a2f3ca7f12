"""Partitions of a projection, and the checkpoint of a split projection."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import pytest

from tandem.messages import StoredEvent
from tandem.projections.base import AsyncProjection
from tandem.projections.partitions import partition_of, partitions
from tandem.projections.remote import RemoteProjection


class Recording(AsyncProjection[list[str]]):
    name: ClassVar[str] = "recording"
    event_types = frozenset({"ProductCreated", "CategoryRenamed"})
    partitioned_by = frozenset({"product"})

    async def setup(self, tx: list[str]) -> None:
        return None

    async def apply(self, tx: list[str], event: StoredEvent) -> None:
        tx.append(event.aggregate_id)


class Unsplittable(Recording):
    name = "unsplittable"
    partitioned_by = frozenset()


def _event(position: int, aggregate_type: str, aggregate_id: str) -> StoredEvent:
    kind = "ProductCreated" if aggregate_type == "product" else "CategoryRenamed"
    return StoredEvent(position, kind, 1, aggregate_type, aggregate_id, 1, 0.0, "c", "c", {})


async def test_each_product_goes_to_exactly_one_partition_and_categories_to_all() -> None:
    parts = partitions(Recording, 3)
    assert [p.name for p in parts] == ["recording.p0", "recording.p1", "recording.p2"]
    seen: list[list[str]] = [[] for _ in parts]
    events = [_event(i, "product", f"prod-{i}") for i in range(1, 60)]
    events.append(_event(100, "category", "cat-1"))
    for part, tx in zip(parts, seen, strict=True):
        for event in events:
            await part.apply(tx, event)
    for i in range(1, 60):
        owners = [n for n, tx in enumerate(seen) if f"prod-{i}" in tx]
        assert owners == [partition_of(f"prod-{i}", 3)]
    assert all("cat-1" in tx for tx in seen)
    assert all(tx for tx in seen), "crc32 left a partition empty over 59 ids"


def test_one_partition_is_the_projection_itself() -> None:
    (only,) = partitions(Recording, 1)
    assert only.name == "recording"


def test_a_projection_without_partitioned_by_cannot_be_split() -> None:
    with pytest.raises(ValueError, match="partitioned_by"):
        partitions(Unsplittable, 2)


def test_partition_of_is_stable() -> None:
    # crc32 (4137215628 for this id), not hash(): the same owner in every process and
    # after every restart, whatever PYTHONHASHSEED says.
    assert partition_of("3f7c1a52-0000-4000-8000-000000000001", 4) == 4137215628 % 4


async def test_a_split_projection_has_applied_a_version_only_when_every_part_has() -> None:
    async def stored() -> dict[str, int]:
        return {"recording.p0": 0, "recording.p1": 0}

    remote = RemoteProjection("recording", stored, ["recording.p0", "recording.p1"])
    remote.advance_part("recording.p0", 500)
    assert remote.checkpoint.value == 0
    waiting = asyncio.ensure_future(remote.checkpoint.wait_for(400, timeout=5))
    await asyncio.sleep(0)
    assert not waiting.done()
    remote.advance_part("recording.p1", 450)
    assert await waiting
    assert remote.checkpoint.value == 450
    remote.advance_part("recording.p1", 300)  # an old notification never moves it back
    assert remote.checkpoint.value == 450
    remote.advance_part("elsewhere.p0", 10_000)  # not one of its parts
    assert remote.checkpoint.value == 450


async def test_a_notice_during_a_checkpoint_read_is_not_taken_for_a_wiped_store() -> None:
    """A worker's notice may raise a part while the stored checkpoints are being read;
    the read then returns less than the part now holds, and nothing went back."""
    projection: RemoteProjection

    async def read_while_notified() -> dict[str, int]:
        stored = dict(projection.parts)
        projection.advance_part("detail", 20)
        return stored

    projection = RemoteProjection("detail", read_while_notified, confirm_reads=True)
    projection.advance_part("detail", 10)
    await projection.refresh()
    assert not projection.went_back
    assert await projection.confirm(10)
    assert not projection.went_back


async def test_a_store_behind_what_was_seen_went_back() -> None:
    async def wiped() -> dict[str, int]:
        return {"detail": 0}

    projection = RemoteProjection("detail", wiped, confirm_reads=True)
    projection.advance_part("detail", 10)
    assert not await projection.confirm(10)
    assert projection.went_back
