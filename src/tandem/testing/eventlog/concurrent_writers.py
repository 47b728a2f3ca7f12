"""The contract's concurrency half: no event may appear below a position already read.

Projections trust one thing about the log: once they have read position N, no event at
or below N can appear later, whatever order writers' transactions commit in. A backend
that breaks this loses events for good, silently (see `design-notes.md` §1), so the
suite tests it directly: an older transaction held open while a younger one commits, and
rounds of many writers with random hold times and rollbacks against a follower that
reads throughout, as a projection would.

The check functions (`check_an_older_transaction_is_never_skipped`, `many_writer_round`)
are public so a test can also prove they see the bug in a log broken on purpose.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import ClassVar

import pytest

from tandem.consistency import VersionWatch
from tandem.eventlog.base import EventLogReader
from tandem.messages import StoredEvent
from tandem.testing.eventlog.backend import (
    META,
    POSITION_LIMIT,
    VISIBLE_WITHIN,
    EventLogBackend,
    assert_exact_increasing,
    new_event,
    positions_of,
    read_all,
    wait_visible,
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
    assert_exact_increasing(positions_of(seen_after), "read_after")
    assert seen_after[: len(seen_before)] == seen_before, (
        f"while the older transaction was open a reader saw {positions_of(seen_before)};"
        f" after it committed the log reads {positions_of(seen_after)}: an event appeared"
        " below a position the reader had passed, and a follower skips it"
    )
    floor = max([head_before, *positions_of(seen_before)])
    late = seen_after[len(seen_before) :]
    assert all(e.position > floor for e in late), (
        f"head was {floor} while events {positions_of(late)} were still to appear below it"
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


class ConcurrentWritersContract:
    """The contract's tests of a log written by several transactions at once.

    `concurrent_writers = False` declares a log with one writer at a time (SQLite): no
    transaction can commit while an older one is open, so these tests skip, saying why.
    `rounds` is how many many-writer rounds to run.
    """

    concurrent_writers: ClassVar[bool] = True
    rounds: ClassVar[int] = 3

    def _needs_concurrent_writers(self) -> None:
        if not self.concurrent_writers:
            pytest.skip(
                f"{type(self).__name__} declares concurrent_writers = False: one writer at a"
                " time, so no transaction can commit while an older one is open"
            )

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
