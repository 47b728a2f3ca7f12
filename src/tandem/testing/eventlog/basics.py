"""The contract's single-writer half: positions, reads, round trips and refusals.

What any event log must do with one writer at a time: an empty log reads nothing,
positions strictly increase and stay exact in JSON, `read_after` honours its cursor and
limit, every field comes back as written, the head is the last visible position, a
repeated aggregate version is refused with its whole batch, a rolled-back
transaction leaves nothing behind, and an event over the size bound
(`tandem.eventlog.base.MAX_EVENT_BYTES`, the backends' default) is refused with its
whole batch.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest

from tandem.errors import EventTooLarge
from tandem.eventlog.base import MAX_EVENT_BYTES, NewEvent
from tandem.messages import Metadata, StoredEvent
from tandem.testing.eventlog.backend import (
    META,
    EventLogBackend,
    assert_exact_increasing,
    new_event,
    positions_of,
    read_all,
    wait_visible,
)
from tandem.upcasting import UPCASTERS


class BasicContract:
    """The contract's tests that need no concurrent writers.

    `duplicate_errors` is what the backend's `append` raises for a repeated aggregate
    version; a subclass must declare it.
    """

    duplicate_errors: ClassVar[tuple[type[BaseException], ...]] = ()

    @pytest.mark.asyncio
    async def test_an_empty_log_has_head_zero_and_reads_nothing(
        self, event_log_backend: EventLogBackend
    ) -> None:
        log = event_log_backend.log
        assert await log.head() == 0
        assert await log.read_after(0, 10) == []

    @pytest.mark.asyncio
    async def test_positions_strictly_increase_and_stay_exact_in_json(
        self, event_log_backend: EventLogBackend
    ) -> None:
        stored: list[StoredEvent] = []
        for n, size in enumerate([1, 3, 2]):
            stored += await event_log_backend.append(
                [new_event(f"agg-{n}", v) for v in range(1, size + 1)], META
            )
        assert_exact_increasing(positions_of(stored), "append")
        read = await wait_visible(event_log_backend.log, 0, len(stored))
        assert positions_of(read) == positions_of(stored)

    @pytest.mark.asyncio
    async def test_read_after_honours_position_and_limit_in_order(
        self, event_log_backend: EventLogBackend
    ) -> None:
        stored: list[StoredEvent] = []
        for n, size in enumerate([2, 1, 4]):
            stored += await event_log_backend.append(
                [new_event(f"agg-{n}", v) for v in range(1, size + 1)], META
            )
        log = event_log_backend.log
        assert len(await wait_visible(log, 0, len(stored))) == len(stored)
        # Positions need not be dense: a cursor just below an event works as well.
        cursors = sorted({0, *positions_of(stored), *(p - 1 for p in positions_of(stored))})
        for after in cursors:
            for limit in (1, 2, 3, 100):
                expected = [e for e in stored if e.position > after][:limit]
                got = await log.read_after(after, limit)
                assert got == expected, f"read_after({after}, {limit})"

    @pytest.mark.asyncio
    async def test_every_field_round_trips(self, event_log_backend: EventLogBackend) -> None:
        data = {
            "price": "12.50",
            "tiny": "0.000000000000000001",
            "name": 'Größe ✓ 日本語 \U0001f600 "quoted" \\ back',
            "nested": {"list": [1, 2.5, None, True, {"deep": ["x"]}], "empty": {}},
            "big": 2**53 - 1,
        }
        meta = Metadata("corr-✓-1", "cause-日本")
        events = [
            new_event("round-trip", 1, data, type="Changed", schema_version=3),
            new_event("round-trip", 2, {}, type="Emptied"),
        ]
        stored = await event_log_backend.append(events, meta)
        assert [(e.type, e.schema_version, e.data) for e in stored] == [
            (e.type, e.schema_version, e.data) for e in events
        ]
        read = await wait_visible(event_log_backend.log, 0, 2)
        assert read == stored
        assert read[0].data == data and isinstance(read[0].data["price"], str)
        assert (read[0].correlation_id, read[0].causation_id) == (
            meta.correlation_id,
            meta.causation_id,
        )
        assert [(e.aggregate_type, e.aggregate_id, e.aggregate_version) for e in read] == [
            ("contract", "round-trip", 1),
            ("contract", "round-trip", 2),
        ]

    @pytest.mark.asyncio
    async def test_head_is_the_last_visible_position(
        self, event_log_backend: EventLogBackend
    ) -> None:
        log = event_log_backend.log
        appended = 0
        for n in range(3):
            stored = await event_log_backend.append(
                [new_event(f"head-{n}", 1), new_event(f"head-{n}", 2)], META
            )
            appended += len(stored)
            visible = await wait_visible(log, 0, appended)
            assert positions_of(visible)[-1] == stored[-1].position
            assert await log.head() == stored[-1].position

    @pytest.mark.asyncio
    async def test_a_duplicate_aggregate_version_is_refused_with_its_whole_batch(
        self, event_log_backend: EventLogBackend
    ) -> None:
        if not self.duplicate_errors:
            pytest.fail(f"{type(self).__name__} must declare duplicate_errors")
        first = await event_log_backend.append([new_event("dup", 1)], META)
        with pytest.raises(self.duplicate_errors):
            await event_log_backend.append([new_event("bystander", 1), new_event("dup", 1)], META)
        with pytest.raises(self.duplicate_errors):
            await event_log_backend.append([new_event("dup", 1, {"other": "payload"})], META)
        # Another aggregate type with the same id and version is a different stream.
        other = NewEvent("Happened", 1, "other-type", "dup", 1, {})
        last = await event_log_backend.append([other], META)
        read = await wait_visible(event_log_backend.log, 0, 2)
        assert read == first + last, "nothing of a refused batch may be kept"

    @pytest.mark.asyncio
    async def test_a_rolled_back_transaction_leaves_nothing(
        self, event_log_backend: EventLogBackend
    ) -> None:
        tx = await event_log_backend.open_transaction()
        await tx.append([new_event("gone", 1), new_event("gone", 2)], META)
        await tx.rollback()
        # Its aggregate versions are free again: nothing of it stayed behind.
        kept = await event_log_backend.append([new_event("gone", 1)], META)
        log = event_log_backend.log
        read = await wait_visible(log, 0, 1)
        await asyncio.sleep(0.05)
        assert await read_all(log, 0) == read == kept
        assert await log.head() == kept[0].position

    @pytest.mark.asyncio
    async def test_an_event_over_the_size_bound_is_refused_with_its_whole_batch(
        self, event_log_backend: EventLogBackend
    ) -> None:
        fits = {"text": "x" * (MAX_EVENT_BYTES // 2)}
        too_large = {"text": "x" * MAX_EVENT_BYTES}
        with pytest.raises(EventTooLarge) as refused:
            await event_log_backend.append(
                [new_event("big", 1, fits), new_event("big", 2, too_large)], META
            )
        assert refused.value.size > refused.value.limit == MAX_EVENT_BYTES
        # A large correlation id counts too: the metadata is stored with every event.
        with pytest.raises(EventTooLarge):
            await event_log_backend.append(
                [new_event("big", 1)], Metadata("c" * MAX_EVENT_BYTES, "cause")
            )
        kept = await event_log_backend.append([new_event("big", 1, fits)], META)
        log = event_log_backend.log
        read = await wait_visible(log, 0, 1)
        await asyncio.sleep(0.05)
        assert await read_all(log, 0) == read == kept, "nothing of a refused batch may be kept"

    @pytest.mark.asyncio
    async def test_events_written_in_older_shapes_are_read_in_the_newest(
        self, event_log_backend: EventLogBackend
    ) -> None:
        # Written by older code: version 1 named the field `name`; version 2 renamed it
        # `title`; version 3 split `title` into `title` and `subtitle`.
        old = [
            new_event("book", 1, {"name": "Dune: Messiah"}, type="Shelved"),
            new_event("book", 2, {"title": "Dune: Children"}, type="Shelved", schema_version=2),
        ]
        await event_log_backend.append(old, META)
        current = new_event(
            "book", 3, {"title": "Dune", "subtitle": "Heretics"}, type="Shelved", schema_version=3
        )
        await event_log_backend.append([current], META)
        other = new_event("other", 1, {"name": "kept as it is"})
        await event_log_backend.append([other], META)

        def renamed(data: dict[str, Any]) -> dict[str, Any]:
            data["title"] = data.pop("name")
            return data

        def split(data: dict[str, Any]) -> dict[str, Any]:
            title, _, subtitle = data["title"].partition(": ")
            return {**data, "title": title, "subtitle": subtitle}

        with UPCASTERS.registered("Shelved", 1, renamed), UPCASTERS.registered("Shelved", 2, split):
            read = await wait_visible(event_log_backend.log, 0, 4)
        assert [(e.schema_version, e.data) for e in read] == [
            (3, {"title": "Dune", "subtitle": "Messiah"}),
            (3, {"title": "Dune", "subtitle": "Children"}),
            (3, {"title": "Dune", "subtitle": "Heretics"}),
            (1, {"name": "kept as it is"}),
        ]
        # The log itself is never rewritten: without the upcasters, the shapes written.
        again = await read_all(event_log_backend.log, 0)
        assert [e.data for e in again][:2] == [
            {"name": "Dune: Messiah"},
            {"title": "Dune: Children"},
        ]
