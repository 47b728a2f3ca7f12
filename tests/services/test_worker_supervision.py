"""A worker restarts a runner that an unexpected error ended, and says so.

Found by the chaos runner: right after `pg_terminate_backend`, a runner's idle check of
its store raised an error that was neither an outage nor `ReadModelLost`. The runner's
task ended, the worker went on holding the lease and reporting the projection `live`,
and the projection stayed at one checkpoint for good, with nothing in the log.

Also: a worker stops though a runner loses its first cancellation (the Redis client
does, on Python 3.11), where its stop used to wait for that runner forever.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest

from tandem.consistency import VersionWatch
from tandem.db.postgres import Pool
from tandem.messages import StoredEvent
from tandem.projections.base import Projection
from tandem.projections.runner import ProjectionRunner, ProjectionState, RetryPolicy
from tandem.projections.worker import LeasedRunner, ProjectionWorker
from tandem.stores.sqlite import SqliteProjectionStore
from tests.services.conftest import LeasesOf
from tests.support.listlog import ListLog

pytestmark = pytest.mark.services

NAME = "tally"
QUICK = RetryPolicy(attempts=2, first_delay=0.01, max_delay=0.01)


class Tally(Projection[sqlite3.Connection]):
    name = NAME
    event_types = frozenset({"Counted"})

    def setup(self, tx: sqlite3.Connection) -> None:
        tx.execute("CREATE TABLE IF NOT EXISTS tally (position INTEGER PRIMARY KEY)")

    def apply(self, tx: sqlite3.Connection, event: StoredEvent) -> None:
        tx.execute("INSERT INTO tally (position) VALUES (?)", (event.position,))


class StoreWithOneBadCheck(SqliteProjectionStore):
    """A SQLite store whose first idle check fails with an error the runner does not
    expect (as asyncpg's `InternalClientError` did on a connection cut mid-message)."""

    checks_failed = 0

    async def verify(self, projection: Tally) -> None:
        if StoreWithOneBadCheck.checks_failed == 0:
            StoreWithOneBadCheck.checks_failed += 1
            raise RuntimeError("cannot switch to state 12; another operation (2) is in progress")


@pytest.fixture
def pool(leases_pool: Pool) -> Pool:
    return leases_pool


def tallied(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT position FROM tally ORDER BY position")]


async def test_a_runner_ended_by_an_unexpected_error_is_started_again(
    pool: Pool, leases_of: LeasesOf, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log, head, path = ListLog(), VersionWatch(0), tmp_path / "read.db"
    StoreWithOneBadCheck.checks_failed = 0
    runners: list[ProjectionRunner] = []

    async def factory() -> LeasedRunner:
        runner = ProjectionRunner(Tally(), StoreWithOneBadCheck(path), log, head, idle_poll=0.05)
        runners.append(runner)
        return LeasedRunner(runner)

    worker = ProjectionWorker(pool, leases_of("w1", ttl=5), {NAME: factory}, interval=0.1)
    task = asyncio.create_task(worker.run())
    try:
        for _ in range(3):
            head.advance(log.append())
        # The first runner applies these, goes idle, and its idle check fails.
        for _ in range(100):
            if StoreWithOneBadCheck.checks_failed and len(runners) > 1:
                break
            await asyncio.sleep(0.05)
        for _ in range(3):
            head.advance(log.append())
        for _ in range(100):
            if tallied(path) == [1, 2, 3, 4, 5, 6]:
                break
            await asyncio.sleep(0.05)
        assert StoreWithOneBadCheck.checks_failed == 1
        assert tallied(path) == [1, 2, 3, 4, 5, 6], "the projection stalled after the error"
        assert len(runners) == 2
        assert runners[-1].state is ProjectionState.LIVE
        ended = [r for r in caplog.records if "ended" in r.getMessage()]
        assert ended and ended[0].levelno == logging.ERROR
        assert "RuntimeError" in ended[0].getMessage()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class PoisonedTally(Tally):
    def apply(self, tx: sqlite3.Connection, event: StoredEvent) -> None:
        raise ValueError("poison")


async def test_a_runner_stopped_by_its_poison_policy_is_left_failed(
    pool: Pool, leases_of: LeasesOf, tmp_path: Path
) -> None:
    log, head = ListLog(), VersionWatch(0)
    runners: list[ProjectionRunner] = []

    async def factory() -> LeasedRunner:
        store = SqliteProjectionStore(tmp_path / "read.db")
        runner = ProjectionRunner(PoisonedTally(), store, log, head, retry=QUICK)
        runners.append(runner)
        return LeasedRunner(runner)

    worker = ProjectionWorker(pool, leases_of("w1", ttl=5), {NAME: factory}, interval=0.05)
    task = asyncio.create_task(worker.run())
    try:
        head.advance(log.append())
        for _ in range(100):
            if runners and runners[0].state is ProjectionState.FAILED:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # several rounds of the worker
        assert runners[0].state is ProjectionState.FAILED
        assert len(runners) == 1, "a poisoned projection must wait for an operator"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class DeafStore(SqliteProjectionStore):
    """A SQLite store whose idle check swallows one cancellation, as the Redis client
    does on Python 3.11 when it lands as a command's send completes."""

    swallowed = 0

    async def verify(self, projection: Tally) -> None:
        try:
            await asyncio.sleep(0.5)
        except asyncio.CancelledError:
            if DeafStore.swallowed:
                raise
            DeafStore.swallowed += 1


async def test_a_worker_stops_though_a_runner_swallows_its_cancellation(
    pool: Pool, leases_of: LeasesOf, tmp_path: Path
) -> None:
    log, head = ListLog(), VersionWatch(0)
    DeafStore.swallowed = 0
    runners: list[ProjectionRunner] = []

    async def factory() -> LeasedRunner:
        runner = ProjectionRunner(
            Tally(), DeafStore(tmp_path / "read.db"), log, head, idle_poll=0.01
        )
        runners.append(runner)
        return LeasedRunner(runner)

    worker = ProjectionWorker(pool, leases_of("w1", ttl=5), {NAME: factory}, interval=0.05)
    task = asyncio.create_task(worker.run())
    for _ in range(100):
        if runners and runners[0].state is ProjectionState.LIVE:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.1)  # the idle runner is in its store's check most of the time
    task.cancel()
    async with asyncio.timeout(10):  # a lost cancellation used to hold the stop forever
        await asyncio.gather(task, return_exceptions=True)
    assert DeafStore.swallowed == 1
    assert runners[0].state is ProjectionState.STOPPED
