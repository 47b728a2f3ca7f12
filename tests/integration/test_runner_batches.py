"""A runner behind reads larger batches as it goes, up to its limit, and small ones again
once it has reached the end of the log; every event is applied once, in order."""

from __future__ import annotations

import asyncio
import sqlite3
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
    """A list log that records the limit of every read."""

    def __init__(self) -> None:
        super().__init__()
        self.limits: list[int] = []

    async def read_after(self, position: int, limit: int) -> list[StoredEvent]:
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
