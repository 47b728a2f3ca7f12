"""Runners sharing their reads of the event log (`tandem.eventlog.shared`), over the
SQLite log: fewer queries, and every runner still reads every event once, in order."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from tandem.db.sqlite import connect
from tandem.eventlog import sqlite as sqlite_log
from tandem.eventlog.base import NewEvent
from tandem.eventlog.shared import KEEP, LIVE_KEEP, SharedReads
from tandem.messages import Metadata, StoredEvent


class Log:
    """The SQLite event log, counting the queries read through it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        conn = connect(path)
        sqlite_log.create_schema(conn)
        conn.close()
        self.reader = sqlite_log.SqliteEventLogReader(path)
        self.versions: dict[str, int] = {}
        self.queries = 0

    def append(self, count: int) -> None:
        conn = connect(self.path)
        try:
            conn.execute("BEGIN IMMEDIATE")
            events = []
            for _ in range(count):
                aggregate = f"a{random.randrange(5)}"
                version = self.versions[aggregate] = self.versions.get(aggregate, 0) + 1
                events.append(NewEvent("Happened", 1, "thing", aggregate, version, {"n": version}))
            sqlite_log.append(conn, events, Metadata("c", "c"))
            conn.execute("COMMIT")
        finally:
            conn.close()

    async def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        self.queries += 1
        return await self.reader.read_after(position, limit)

    async def head(self) -> int:
        return await self.reader.head()


@pytest.fixture
def log(tmp_path: Path) -> Iterator[Log]:
    log = Log(tmp_path / "events.db")
    yield log
    log.reader.close()


async def test_reads_after_one_position_at_once_share_one_query(log: Log) -> None:
    log.append(30)
    shared = SharedReads(log)
    batches = await asyncio.gather(*(shared.read_after(0, 100) for _ in range(5)))
    assert log.queries == 1
    assert all(batch == batches[0] for batch in batches)
    assert len(batches[0]) == 30


async def test_a_read_inside_a_batch_that_reached_the_end_is_answered_from_it(
    log: Log,
) -> None:
    log.append(30)
    shared = SharedReads(log)
    first = await shared.read_after(0, 100)
    later = await shared.read_after(first[9].position, 100)
    assert log.queries == 1
    assert later == await log.reader.read_after(first[9].position, 100)


async def test_a_batch_cut_at_its_limit_answers_only_reads_it_holds_whole(log: Log) -> None:
    log.append(30)
    shared = SharedReads(log)
    first = await shared.read_after(0, 10)
    # Five events of this batch follow its fifth: a read of ten would be short, and a
    # short batch means the end of the log to a runner, so the log is asked.
    after_fifth = await shared.read_after(first[4].position, 10)
    assert log.queries == 2
    assert len(after_fifth) == 10
    # That batch reaches further and is kept; a read of five it holds whole is its own.
    assert await shared.read_after(after_fifth[0].position, 5) == after_fifth[1:6]
    assert log.queries == 2


@pytest.mark.parametrize("keep", [3, 20, KEEP])
async def test_runners_reading_apart_while_the_log_grows_each_read_every_event_once(
    log: Log, keep: int
) -> None:
    shared = SharedReads(log, keep=keep)
    rng = random.Random(5)
    seen: list[list[int]] = [[] for _ in range(4)]
    positions = [0] * 4
    for _round in range(60):
        if rng.random() < 0.6:
            log.append(rng.randint(1, 12))
        runners = rng.sample(range(4), rng.randint(1, 4))
        batches = await asyncio.gather(
            *(shared.read_after(positions[r], rng.choice([3, 7, 50])) for r in runners)
        )
        for r, batch in zip(runners, batches, strict=True):
            seen[r] += [e.position for e in batch]
            if batch:
                positions[r] = batch[-1].position
    for r in range(4):
        while batch := await shared.read_after(positions[r], 50):
            seen[r] += [e.position for e in batch]
            positions[r] = batch[-1].position
    every = [e.position for e in await log.reader.read_after(0, 10_000)]
    assert all(runner == every for runner in seen)
    assert log.queries < sum(len(runner) for runner in seen)


async def test_a_runner_behind_reads_what_the_first_one_read_while_it_is_in_the_window(
    log: Log,
) -> None:
    log.append(40)
    shared = SharedReads(log, keep=25)
    position = 0
    for _ in range(3):  # the first runner: 30 events in three reads of ten
        batch = await shared.read_after(position, 10)
        position = batch[-1].position
    assert log.queries == 3
    every = await log.reader.read_after(0, 100)
    # The window keeps the newest 25 of the 30: events 6 to 30.
    assert await shared.read_after(every[6].position, 10) == every[7:17]
    assert await shared.read_after(every[4].position, 10) == every[5:15]
    assert log.queries == 3
    # Event 5 has left the window: a read after event 4 is a query of its own.
    assert await shared.read_after(every[3].position, 10) == every[4:14]
    assert log.queries == 4


async def test_once_a_read_reaches_the_end_of_the_log_the_window_keeps_few_events(
    log: Log,
) -> None:
    log.append(LIVE_KEEP + 500)
    shared = SharedReads(log)
    every = await shared.read_after(0, 10 * LIVE_KEEP)
    assert log.queries == 1
    assert await shared.read_after(every[600].position, 50) == every[601:651]
    assert log.queries == 1
    assert await shared.read_after(every[100].position, 50) == every[101:151]
    assert log.queries == 2


async def test_a_read_past_the_window_starts_a_new_one_rather_than_leave_a_hole(
    log: Log,
) -> None:
    log.append(40)
    every = await log.reader.read_after(0, 100)
    shared = SharedReads(log)
    assert await shared.read_after(0, 10) == every[:10]
    # A runner whose checkpoint is further on (a process restarted there) reads 21-30.
    assert await shared.read_after(every[19].position, 10) == every[20:30]
    assert await shared.read_after(every[4].position, 10) == every[5:15]
