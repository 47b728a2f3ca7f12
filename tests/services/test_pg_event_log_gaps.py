"""The PostgreSQL event log never lets a reader skip an event, whatever the commit order.

Sixteen writers hold their transactions open for random times, so commits land out of
position order; some roll back. A reader folds the log throughout, as a projection
would. Every committed event must be applied exactly once, in per-aggregate order, and a
read that waits for an acknowledged version must find that write applied. Switched to
the `unsafe` mode (positions without the horizon) the same test must see lost events:
that is what proves it can see the bug.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg
import pytest

from tandem.consistency import VersionWatch
from tandem.db.postgres import Pool, create_pool
from tandem.eventlog import postgres as pg_log
from tandem.eventlog.base import NewEvent
from tandem.messages import Metadata, StoredEvent
from tandem.migrations import migrate
from tandem.projections.runner import ProjectionRunner
from tandem.testing.transports import MemoryStore, Recording
from tests.support.services import PostgresDatabase

pytestmark = [pytest.mark.services, pytest.mark.timeout(300)]

WRITERS = 16
ROUNDS = 20
TRANSACTIONS_PER_WRITER = 4
META = Metadata("c", "c")


@pytest.fixture
async def pool(pg_database: PostgresDatabase) -> AsyncIterator[Pool]:
    pool = await create_pool(pg_database.url, min_size=2, max_size=WRITERS + 4)
    async with pool.acquire() as conn:
        await migrate(conn, [pg_log.MIGRATIONS])
    try:
        yield pool
    finally:
        await pool.close()


@dataclass
class Fold:
    """A projection's view: what it applied, its checkpoint, versions per aggregate."""

    checkpoint: VersionWatch = field(default_factory=VersionWatch)
    applied: dict[int, StoredEvent] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    def apply(self, event: StoredEvent) -> None:
        if event.position in self.applied:
            self.violations.append(f"position {event.position} applied twice")
        if event.position <= self.checkpoint.value:
            self.violations.append(f"position {event.position} below checkpoint")
        expected = self.versions.get(event.aggregate_id, 0) + 1
        if event.aggregate_version != expected:
            self.violations.append(
                f"{event.aggregate_id}: version {event.aggregate_version}, expected {expected}"
            )
        self.versions[event.aggregate_id] = event.aggregate_version
        self.applied[event.position] = event
        self.checkpoint.advance(event.position)


async def follow(log: pg_log.PostgresEventLog, fold: Fold, stop: asyncio.Event) -> None:
    while True:
        events = await log.read_after(fold.checkpoint.value, 7)
        for event in events:
            fold.apply(event)
        if not events:
            if stop.is_set():
                return
            await asyncio.sleep(0.001)


@dataclass
class Writer:
    """One writer: its aggregate, the next version, what it committed."""

    aggregate_id: str
    next_version: int = 1
    committed: list[int] = field(default_factory=list)


async def write(
    pool: Pool, writer: Writer, mode: pg_log.AppendMode, fold: Fold, rng: random.Random
) -> list[str]:
    """Commit or roll back transactions that stay open a random time; after each commit,
    check that a read waiting for its version sees it (as `min_version` would)."""
    missed: list[str] = []
    for _ in range(TRANSACTIONS_PER_WRITER):
        count = rng.randint(1, 3)
        events = [
            NewEvent("Happened", 1, "thing", writer.aggregate_id, writer.next_version + i, {"i": i})
            for i in range(count)
        ]
        rollback = rng.random() < 0.15
        async with pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            await asyncio.sleep(rng.random() * 0.004)
            stored = await pg_log.append(conn, events, META, mode)
            await asyncio.sleep(rng.random() * 0.02)
            if rollback:
                await tx.rollback()
                continue
            await tx.commit()
        writer.next_version += count
        positions = [e.position for e in stored]
        writer.committed += positions
        version = positions[-1]
        if await fold.checkpoint.wait_for(version, timeout=10):
            missing = [p for p in positions if p not in fold.applied]
            if missing:
                missed.append(f"read at version {version} misses positions {missing}")
        else:
            missed.append(f"version {version} never became readable")
    return missed


async def run_round(pool: Pool, mode: pg_log.AppendMode, round_no: int) -> list[str]:
    log = pg_log.PostgresEventLog(pool, mode)
    rng = random.Random(round_no)
    fold = Fold()
    fold.checkpoint.advance(await log.head())
    start = fold.checkpoint.value
    stop = asyncio.Event()
    follower = asyncio.create_task(follow(log, fold, stop))
    # A real projection runner follows the same log into a store, as workers do.
    head = VersionWatch(start)
    store = MemoryStore(checkpoint=start)
    runner = ProjectionRunner(Recorder(), store, log, head, idle_poll=0.01, linger=0.0)
    await runner.start()
    running = asyncio.create_task(runner.run())
    writers = [Writer(f"r{round_no}-w{i}") for i in range(WRITERS)]
    results = await asyncio.gather(*(write(pool, w, mode, fold, rng) for w in writers))
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(follower, 30)
    committed = {p for w in writers for p in w.committed}
    head.advance(max(committed, default=start))
    await runner.checkpoint.wait_for(head.value, timeout=10)
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    problems = [p for missed in results for p in missed] + fold.violations
    for name, seen in (("follower", list(fold.applied)), ("runner", store.applied)):
        applied = {p for p in seen if p > start}
        if len(seen) != len(set(seen)):
            problems.append(f"{name}: an event applied twice")
        if seen != sorted(seen):
            problems.append(f"{name}: events applied out of position order")
        if committed - applied:
            problems.append(f"{name}: {len(committed - applied)} committed events never applied")
        if applied - committed:
            problems.append(f"{name}: {len(applied - committed)} applied events never committed")
    return problems


class Recorder(Recording):
    """The transport contract's recording projection, for this log's event type."""

    event_types = frozenset({"Happened"})


async def test_horizon_never_skips_with_16_out_of_order_writers(pool: Pool) -> None:
    for round_no in range(ROUNDS):
        problems = await run_round(pool, pg_log.AppendMode.HORIZON, round_no)
        assert problems == [], f"round {round_no}: {problems[:5]}"


async def test_the_same_test_catches_lost_events_without_the_horizon(pool: Pool) -> None:
    found: list[str] = []
    for round_no in range(ROUNDS):
        found += await run_round(pool, pg_log.AppendMode.UNSAFE, round_no)
        if found:
            break
    assert any("never applied" in p or "misses" in p for p in found), found


async def test_lock_mode_never_skips_either(pool: Pool) -> None:
    for round_no in range(3):
        problems = await run_round(pool, pg_log.AppendMode.LOCK, round_no)
        assert problems == [], f"round {round_no}: {problems[:5]}"


async def test_a_reader_waits_behind_an_open_transaction(pool: Pool) -> None:
    """The case that loses events elsewhere, step by step: an older transaction still
    open while a younger one commits. The younger event stays invisible until the
    older commits, then both are read, in position order."""
    log = pg_log.PostgresEventLog(pool)
    older = await pool.acquire()
    younger = await pool.acquire()
    try:
        tx_old = older.transaction()
        await tx_old.start()
        first = await pg_log.append(older, [NewEvent("A", 1, "t", "old", 1, {})], META)
        async with younger.transaction():
            second = await pg_log.append(younger, [NewEvent("B", 1, "t", "young", 1, {})], META)
        assert second[0].position > first[0].position
        assert await log.read_after(0, 10) == []
        assert await log.head() == 0
        await tx_old.commit()
        seen = [e.position for e in await log.read_after(0, 10)]
        assert seen == [first[0].position, second[0].position]
    finally:
        await pool.release(older)
        await pool.release(younger)


async def test_rolled_back_positions_leave_holes_that_readers_pass(pool: Pool) -> None:
    log = pg_log.PostgresEventLog(pool)
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await pg_log.append(conn, [NewEvent("A", 1, "t", "gone", 1, {})], META)
        await tx.rollback()
        async with conn.transaction():
            kept = await pg_log.append(conn, [NewEvent("A", 1, "t", "kept", 1, {})], META)
    assert [e.position for e in await log.read_after(0, 10)] == [kept[0].position]


async def test_duplicate_aggregate_versions_are_refused(pool: Pool) -> None:
    async with pool.acquire() as conn:
        async with conn.transaction():
            await pg_log.append(conn, [NewEvent("A", 1, "t", "x", 1, {})], META)
        with pytest.raises(asyncpg.UniqueViolationError):
            async with conn.transaction():
                await pg_log.append(conn, [NewEvent("A", 1, "t", "x", 1, {})], META)


async def test_positions_stay_exact_in_json_and_events_round_trip(pool: Pool) -> None:
    data = {"price": "12.50", "name": "Größe ✓", "nested": {"a": [1, 2]}}
    async with pool.acquire() as conn, conn.transaction():
        stored = await pg_log.append(
            conn, [NewEvent("A", 2, "t", "x", 1, data), NewEvent("B", 1, "t", "x", 2, {})], META
        )
    log = pg_log.PostgresEventLog(pool)
    read = await log.read_after(0, 10)
    assert [e.position for e in read] == [e.position for e in stored]
    assert read[0].data == data and read[0].schema_version == 2
    assert read[1].position == read[0].position + 1
    assert all(e.position < 2**53 for e in read)
    assert await log.read_aggregate("x") == read
