"""The event-log contract: what every event log backend must promise its readers.

Projections trust one thing about the log: once they have read position N, no event at
or below N can appear later, whatever order writers' transactions commit in. A backend
that breaks this loses events for good, silently (see `design-notes.md` §1), so the
suite tests it directly: an older transaction held open while a younger one commits, and
rounds of many writers with random hold times and rollbacks against a follower that
reads throughout, as a projection would.

Subclass `EventLogContract` and provide an `event_log_backend` fixture that yields an
`EventLogBackend` on a fresh, empty log:

    class TestMyEventLog(EventLogContract):
        duplicate_errors = (MyUniqueViolation,)

        @pytest.fixture
        async def event_log_backend(self) -> AsyncIterator[EventLogBackend]:
            backend = MyBackend(await fresh_database())
            yield backend
            await backend.close()

The tests are marked `asyncio` (pytest-asyncio); under its strict mode an async fixture
needs `@pytest_asyncio.fixture`. A backend with one writer at a time (SQLite) sets
`concurrent_writers = False`; the two concurrency tests then skip, saying why. The check
functions (`check_an_older_transaction_is_never_skipped`, `many_writer_round`) are
public so a test can also prove they see the bug in a log broken on purpose.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import pytest

from tandem.consistency import VersionWatch
from tandem.eventlog.base import EventLogReader, NewEvent
from tandem.messages import Metadata, StoredEvent

# Positions must be exact in every JSON client (an IEEE double).
POSITION_LIMIT = 2**53
# How long a committed event may stay invisible. A log may hold committed events back
# behind any older open transaction (on PostgreSQL even one in another database of the
# same server), so checks wait for visibility rather than read once.
VISIBLE_WITHIN = 10.0
META = Metadata("contract-correlation", "contract-causation")


class OpenTransaction(Protocol):
    """A writer's transaction left open: append now, commit or roll back later."""

    async def append(self, events: Sequence[NewEvent], metadata: Metadata) -> list[StoredEvent]:
        """Append inside this transaction; returns the events with their positions."""
        ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


class EventLogBackend(Protocol):
    """What a subclass of `EventLogContract` hands the suite, one per test."""

    @property
    def log(self) -> EventLogReader:
        """The reader under test."""
        ...

    async def append(self, events: Sequence[NewEvent], metadata: Metadata) -> list[StoredEvent]:
        """Append `events` in one transaction and commit it; returns them with positions.

        Raises (one of the contract's `duplicate_errors`) and keeps nothing of the batch
        if any event repeats an (aggregate type, id, version) already in the log.
        """
        ...

    async def open_transaction(self) -> OpenTransaction:
        """Begin a transaction that the suite appends to and ends later.

        With `concurrent_writers` it must not block other writers from starting theirs.
        """
        ...


def new_event(
    aggregate_id: str,
    version: int,
    data: dict[str, Any] | None = None,
    *,
    type: str = "Happened",
    schema_version: int = 1,
) -> NewEvent:
    """An event of aggregate type `contract` for the suite to append."""
    return NewEvent(type, schema_version, "contract", aggregate_id, version, data or {})


async def read_all(log: EventLogReader, after: int, page: int = 100) -> list[StoredEvent]:
    """Every event visible after `after`, read page by page as a follower would."""
    events: list[StoredEvent] = []
    while True:
        batch = await log.read_after(after, page)
        events += batch
        if len(batch) < page:
            return events
        after = batch[-1].position


async def wait_visible(
    log: EventLogReader, after: int, count: int, timeout: float = VISIBLE_WITHIN
) -> list[StoredEvent]:
    """The events after `after` once at least `count` are visible (or at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        events = await read_all(log, after)
        if len(events) >= count or time.monotonic() > deadline:
            return events
        await asyncio.sleep(0.005)


def _positions(events: Sequence[StoredEvent]) -> list[int]:
    return [e.position for e in events]


def _assert_exact_increasing(positions: Sequence[int], what: str) -> None:
    assert all(0 < p < POSITION_LIMIT for p in positions), f"{what}: {positions} not in (0, 2^53)"
    assert all(a < b for a, b in itertools.pairwise(positions)), (
        f"{what}: positions {positions} do not strictly increase"
    )


async def check_an_older_transaction_is_never_skipped(backend: EventLogBackend) -> None:
    """An older transaction stays open while a younger one commits; then it commits.

    Whatever a reader saw in between must stay a prefix of what it sees afterwards:
    an event appearing below a position the reader already passed is one a projection
    skips for good. A log may hide the younger event (a read horizon) or make the
    younger writer wait (a lock on append); it may not show it first.
    Raises `AssertionError` when the log lets the older event be skipped.
    """
    log = backend.log
    start = await log.head()
    tag = uuid.uuid4().hex[:8]
    older = await backend.open_transaction()
    younger: asyncio.Task[list[StoredEvent]] | None = None
    try:
        await older.append([new_event(f"older-{tag}", 1)], META)
        younger = asyncio.create_task(backend.append([new_event(f"younger-{tag}", 1)], META))
        # Time for the younger writer to commit, or to queue behind the older one.
        await asyncio.wait({younger}, timeout=0.2)
        seen_before = await read_all(log, start)
        head_before = await log.head()
    except BaseException:
        await older.rollback()
        if younger is not None:
            await asyncio.wait({younger}, timeout=VISIBLE_WITHIN)
        raise
    await older.commit()
    await asyncio.wait_for(younger, VISIBLE_WITHIN)
    seen_after = await wait_visible(log, start, 2)

    assert sorted(e.aggregate_id for e in seen_after) == [f"older-{tag}", f"younger-{tag}"], (
        f"both committed events must become visible, saw {seen_after}"
    )
    _assert_exact_increasing(_positions(seen_after), "read_after")
    assert seen_after[: len(seen_before)] == seen_before, (
        f"while the older transaction was open a reader saw {_positions(seen_before)};"
        f" after it committed the log reads {_positions(seen_after)}: an event appeared"
        " below a position the reader had passed, and a follower skips it"
    )
    floor = max([head_before, *_positions(seen_before)])
    late = seen_after[len(seen_before) :]
    assert all(e.position > floor for e in late), (
        f"head was {floor} while events {_positions(late)} were still to appear below it"
    )


@dataclass
class Follower:
    """A projection's view of the log: what it applied and its per-aggregate versions."""

    checkpoint: VersionWatch
    applied: dict[int, StoredEvent] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def apply(self, event: StoredEvent) -> None:
        if event.position in self.applied:
            self.problems.append(f"position {event.position} applied twice")
        if not 0 < event.position < POSITION_LIMIT:
            self.problems.append(f"position {event.position} is not exact in JSON")
        if event.position <= self.checkpoint.value:
            self.problems.append(
                f"position {event.position} read after checkpoint {self.checkpoint.value}"
            )
        expected = self.versions.get(event.aggregate_id, 0) + 1
        if event.aggregate_version != expected:
            self.problems.append(
                f"{event.aggregate_id}: version {event.aggregate_version}, expected {expected}"
            )
        self.versions[event.aggregate_id] = event.aggregate_version
        self.applied[event.position] = event
        self.checkpoint.advance(event.position)


async def _follow(
    log: EventLogReader, follower: Follower, done: asyncio.Event, committed: dict[int, str]
) -> None:
    """Read in small pages until the writers are done and everything committed is read
    (or, for a log that lost events, the checkpoint has passed the last commit)."""
    deadline: float | None = None
    while True:
        events = await log.read_after(follower.checkpoint.value, 7)
        for event in events:
            follower.apply(event)
        if events:
            continue
        if done.is_set():
            deadline = deadline or time.monotonic() + VISIBLE_WITHIN
            if follower.checkpoint.value >= max(committed, default=0):
                return
            if time.monotonic() > deadline:
                return
        await asyncio.sleep(0.001)


async def _write(
    backend: EventLogBackend,
    aggregate_id: str,
    rng: random.Random,
    follower: Follower,
    committed: dict[int, str],
    transactions: int,
) -> list[str]:
    """Commit or roll back transactions held open a random time; after each commit,
    check that a read waiting for its version sees it (as `min_version` would)."""
    problems: list[str] = []
    version = 1
    for _ in range(transactions):
        events = [new_event(aggregate_id, version + i, {"i": i}) for i in range(rng.randint(1, 3))]
        rollback = rng.random() < 0.15
        tx = await backend.open_transaction()
        try:
            await asyncio.sleep(rng.random() * 0.004)
            stored = await tx.append(events, META)
            await asyncio.sleep(rng.random() * 0.02)
        except BaseException:
            await tx.rollback()
            raise
        if rollback:
            await tx.rollback()
            continue
        await tx.commit()
        version += len(events)
        for event in stored:
            committed[event.position] = aggregate_id
        last = stored[-1].position
        if not await follower.checkpoint.wait_for(last, timeout=VISIBLE_WITHIN):
            problems.append(f"acknowledged version {last} never became readable")
        elif missing := [e.position for e in stored if e.position not in follower.applied]:
            problems.append(f"a read at version {last} misses positions {missing}")
    return problems


async def many_writer_round(
    backend: EventLogBackend, rng: random.Random, *, writers: int = 8, transactions: int = 4
) -> list[str]:
    """One round of concurrent writers against a follower; returns what went wrong.

    Each writer owns one aggregate and holds each transaction open a random time, so
    commits land out of position order; some roll back. Every committed event must be
    applied exactly once, in per-aggregate order, and nothing else.
    """
    log = backend.log
    follower = Follower(VersionWatch(await log.head()))
    start = follower.checkpoint.value
    committed: dict[int, str] = {}
    done = asyncio.Event()
    reading = asyncio.create_task(_follow(log, follower, done, committed))
    tag = uuid.uuid4().hex[:8]
    try:
        results = await asyncio.gather(
            *(
                _write(backend, f"{tag}-w{i}", rng, follower, committed, transactions)
                for i in range(writers)
            )
        )
    finally:
        done.set()
        await asyncio.wait_for(reading, 2 * VISIBLE_WITHIN)
    problems = [p for found in results for p in found] + follower.problems
    applied = {p for p in follower.applied if p > start}
    if lost := set(committed) - applied:
        problems.append(f"{len(lost)} committed events never applied: {sorted(lost)[:5]}")
    if extra := applied - set(committed):
        problems.append(f"{len(extra)} applied events were never committed: {sorted(extra)[:5]}")
    return problems


class EventLogContract:
    """The event-log contract; subclass it with an `event_log_backend` fixture.

    The fixture yields an `EventLogBackend` on a fresh, empty log for every test.
    Class attributes describe the backend:

    - `duplicate_errors`: what `append` raises for a repeated aggregate version;
    - `concurrent_writers`: False for a log with one writer at a time (SQLite), which
      skips the tests that need a transaction open beside a committing one;
    - `rounds`: how many many-writer rounds to run.
    """

    duplicate_errors: ClassVar[tuple[type[BaseException], ...]] = ()
    concurrent_writers: ClassVar[bool] = True
    rounds: ClassVar[int] = 3

    def _needs_concurrent_writers(self) -> None:
        if not self.concurrent_writers:
            pytest.skip(
                f"{type(self).__name__} declares concurrent_writers = False: one writer at a"
                " time, so no transaction can commit while an older one is open"
            )

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
        _assert_exact_increasing(_positions(stored), "append")
        read = await wait_visible(event_log_backend.log, 0, len(stored))
        assert _positions(read) == _positions(stored)

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
        cursors = sorted({0, *_positions(stored), *(p - 1 for p in _positions(stored))})
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
            assert _positions(visible)[-1] == stored[-1].position
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
    async def test_an_older_open_transaction_hides_younger_commits_until_it_commits(
        self, event_log_backend: EventLogBackend
    ) -> None:
        self._needs_concurrent_writers()
        await check_an_older_transaction_is_never_skipped(event_log_backend)

    @pytest.mark.asyncio
    async def test_many_writers_every_committed_event_is_read_once_in_aggregate_order(
        self, event_log_backend: EventLogBackend
    ) -> None:
        self._needs_concurrent_writers()
        for round_no in range(self.rounds):
            problems = await many_writer_round(event_log_backend, random.Random(round_no))
            assert problems == [], f"round {round_no}: {problems[:5]}"
