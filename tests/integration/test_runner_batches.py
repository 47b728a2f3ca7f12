"""A runner behind reads larger batches as it goes, up to its limit, and small ones again
once it has reached the end of the log; every event is applied once, in order."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

from tests.support.listlog import ListLog

from tandem.consistency import VersionWatch
from tandem.messages import StoredEvent
from tandem.projections.base import Projection
from tandem.projections.runner import ProjectionRunner, ProjectionState
from tandem.stores.sqlite import SqliteProjectionStore


class Tally(Projection[sqlite3.Connection]):
    name = "tally"
    event_types = frozenset({"Counted"})

    def setup(self, tx: sqlite3.Connection) -> None:
        tx.execute("CREATE TABLE IF NOT EXISTS tally (position INTEGER PRIMARY KEY)")

    def apply(self, tx: sqlite3.Connection, event: StoredEvent) -> None:
        tx.execute("INSERT INTO tally (position) VALUES (?)", (event.position,))


class AskedLog(ListLog):
    """A list log that records where every read starts, and its limit."""

    def __init__(self) -> None:
        super().__init__()
        self.afters: list[int] = []
        self.limits: list[int] = []

    async def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        self.afters.append(position)
        self.limits.append(limit)
        return await super().read_after(position, limit)


async def test_batches_grow_while_behind_and_shrink_at_the_end_of_the_log(
    tmp_path: Path,
) -> None:
    log, head = AskedLog(), VersionWatch(0)
    for _ in range(3000):
        head.advance(log.append())
    store = SqliteProjectionStore(tmp_path / "tally.db")
    runner = ProjectionRunner(
        Tally(), store, log, head, batch_size=100, max_batch_size=800, linger=0.001
    )
    task = asyncio.create_task(runner.run())
    try:
        await runner.checkpoint.wait_for(3000, timeout=10)
        assert log.limits[:5] == [100, 200, 400, 800, 800]
        assert max(log.limits) == 800
        # Live: a few events at a time, read with the small batch again.
        asked = len(log.limits)
        for _ in range(5):
            head.advance(log.append())
        await runner.checkpoint.wait_for(3005, timeout=10)
        assert runner.state is ProjectionState.LIVE
        assert set(log.limits[asked:]) == {100}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    with sqlite3.connect(tmp_path / "tally.db") as conn:
        applied = [row[0] for row in conn.execute("SELECT position FROM tally ORDER BY position")]
    assert applied == list(range(1, 3006))
    store.close()


class HeldStore:
    """A store in memory whose first apply waits for `release`; `jump` makes that apply
    report a checkpoint that many positions past its batch, as a store does when another
    owner had applied further."""

    kind = "memory"

    def __init__(self, jump: int = 0) -> None:
        self.batches: list[list[int]] = []
        self.checkpoint = 0
        self.applying = asyncio.Event()
        self.release = asyncio.Event()
        self.jump = jump

    async def setup(self, projection: object) -> int:
        return self.checkpoint

    async def apply(self, projection: object, events: list[StoredEvent]) -> int:
        self.batches.append([e.position for e in events])
        fresh = [e.position for e in events if e.position > self.checkpoint]
        if len(self.batches) == 1:
            self.applying.set()
            await self.release.wait()
            self.checkpoint = events[-1].position + self.jump
        elif fresh:
            self.checkpoint = max(self.checkpoint, fresh[-1])
        return self.checkpoint

    async def apply_parked(self, projection: object, events: list[StoredEvent]) -> None:
        raise AssertionError("nothing is parked here")


async def run_held(
    store: HeldStore, seen_held: Callable[[ProjectionRunner, AskedLog], None]
) -> AskedLog:
    """Run a runner over 1,000 events in batches of 100 into `store`; once its first
    apply is held (and the loop has turned a few times), call `seen_held`, then release
    the store and wait for the checkpoint to reach the end. Returns the log."""
    log, head = AskedLog(), VersionWatch(0)
    for _ in range(1000):
        head.advance(log.append())
    runner = ProjectionRunner(Tally(), store, log, head, batch_size=100, linger=0.001)
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(store.applying.wait(), 5)
        for _ in range(10):
            await asyncio.sleep(0)
        seen_held(runner, log)
        store.release.set()
        await runner.checkpoint.wait_for(1000, timeout=5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return log


async def test_a_runner_behind_reads_its_next_batch_while_it_applies_one() -> None:
    def held(runner: ProjectionRunner, log: AskedLog) -> None:
        # The first batch is not applied yet, and the read after it has been made.
        assert runner.checkpoint.value == 0
        assert log.afters == [0, 100]

    store = HeldStore()
    await run_held(store, held)
    applied = [p for batch in store.batches for p in batch]
    assert applied == list(range(1, 1001))


async def test_a_batch_read_ahead_is_dropped_when_the_checkpoint_ends_elsewhere() -> None:
    # The first batch (1-100) reports a checkpoint of 150: the read ahead after 100
    # would hand the runner 101-300 again, behind its checkpoint.
    store = HeldStore(jump=50)
    log = await run_held(store, lambda runner, log: None)
    assert log.afters[:3] == [0, 100, 150]
    # Every batch after the first starts past the checkpoint the store reported.
    assert [p for batch in store.batches[1:] for p in batch] == list(range(151, 1001))
