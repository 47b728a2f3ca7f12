"""A worker that loses the database stops folding before another worker takes its
projections over: two runners of one projection never run at the same time.

Two `ProjectionWorker`s share five projections on a real PostgreSQL lease table while
events keep coming. Every runner marks itself running in a shared `Watch`, which notes
any moment two workers ran one projection.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from tandem.consistency import VersionWatch
from tandem.db.postgres import Pool
from tandem.leases import Leases
from tandem.messages import StoredEvent
from tandem.projections.base import Projection
from tandem.projections.runner import ProjectionRunner
from tandem.projections.worker import LeasedRunner, ProjectionWorker, RunnerFactory
from tandem.stores.sqlite import SqliteProjectionStore
from tests.services.conftest import LeasesOf, lock_session_pid
from tests.support.listlog import ListLog

pytestmark = pytest.mark.services

NAMES = ["p0", "p1", "p2", "p3", "p4"]


class Tally(Projection[sqlite3.Connection]):
    event_types = frozenset({"Counted"})

    def __init__(self, name: str) -> None:
        self.name = name

    def setup(self, tx: sqlite3.Connection) -> None:
        tx.execute("CREATE TABLE IF NOT EXISTS tally (position INTEGER PRIMARY KEY)")

    def apply(self, tx: sqlite3.Connection, event: StoredEvent) -> None:
        tx.execute("INSERT INTO tally (position) VALUES (?)", (event.position,))


class Watch:
    """Which worker runs which projection now, and every overlap seen."""

    def __init__(self, stop_delay: float = 0.0) -> None:
        # How long a cancelled runner takes to end: a slow stop (a busy machine, a long
        # batch) must hold its share back, not let a second runner start beside it.
        self.stop_delay = stop_delay
        self.running: dict[str, set[str]] = {name: set() for name in NAMES}
        self.overlaps: list[str] = []
        self.ended: set[int] = set()  # ids of runners whose run is over

    def runner(self, worker: str, runner: ProjectionRunner) -> ProjectionRunner:
        run = runner.run

        async def watched() -> None:
            others = self.running[runner.name]
            if others:
                self.overlaps.append(f"{worker} starts {runner.name} while {others} run it")
            others.add(worker)
            try:
                await run()
            finally:
                if self.stop_delay:
                    await asyncio.sleep(self.stop_delay)
                others.discard(worker)
                self.ended.add(id(runner))

        runner.run = watched  # type: ignore[method-assign]
        return runner


class Pair:
    """Two workers, `x` and `y`, and a writer appending an event every few ms."""

    def __init__(
        self,
        pool: Pool,
        leases_of: LeasesOf,
        root: Path,
        ttl: float,
        x_interval: float,
        stop_delay: float,
    ) -> None:
        self.log, self.head, self.watch = ListLog(), VersionWatch(0), Watch(stop_delay)
        self.x = self._worker(pool, leases_of("x", ttl=ttl), root, x_interval)
        self.y = self._worker(pool, leases_of("y", ttl=ttl), root, 0.2)
        self.tasks: list[asyncio.Task[None]] = []

    def _worker(self, pool: Pool, leases: Leases, root: Path, interval: float) -> ProjectionWorker:
        worker = leases.worker_id

        def factory(name: str) -> RunnerFactory:
            async def build() -> LeasedRunner:
                store = SqliteProjectionStore(root / f"{name}.db")
                runner = ProjectionRunner(Tally(name), store, self.log, self.head, idle_poll=0.05)
                return LeasedRunner(self.watch.runner(worker, runner))

            return build

        factories = {name: factory(name) for name in NAMES}
        return ProjectionWorker(pool, leases, factories, interval=interval, poll=0.05)

    async def _write(self) -> None:
        while True:
            self.head.advance(self.log.append())
            await asyncio.sleep(0.005)

    async def start(self) -> None:
        self.tasks = [asyncio.create_task(c) for c in (self._write(), self.x.run())]
        await _until(lambda: set(self.x.running) == set(NAMES), 5)
        self.tasks.append(asyncio.create_task(self.y.run()))
        await _until(lambda: bool(self.x.running) and bool(self.y.running), 10)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def _until(condition: Callable[[], bool], within: float) -> float:
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < within, "not within the bound"
        await asyncio.sleep(0.01)
    return time.monotonic() - began


def _resumed(pair: Pair, before: dict[str, ProjectionRunner]) -> bool:
    """Whether every projection `x` ran in `before` runs again, on either worker, with
    a new runner."""
    again = {name: r.runner for name, r in pair.x.running.items()}
    return all(
        name in pair.y.running or again.get(name, runner) is not runner
        for name, runner in before.items()
    )


Pairs = Callable[..., AbstractAsyncContextManager[Pair]]


@pytest.fixture
def pairs(leases_pool: Pool, leases_of: LeasesOf, tmp_path: Path) -> Pairs:
    """`async with pairs(x_interval=…, stop_delay=…) as pair:` two workers running,
    sharing the work."""

    @contextlib.asynccontextmanager
    async def pair(
        x_interval: float = 0.2, stop_delay: float = 0.0, ttl: float = 2.0
    ) -> AsyncIterator[Pair]:
        made = Pair(
            leases_pool,
            leases_of,
            tmp_path,
            ttl=ttl,
            x_interval=x_interval,
            stop_delay=stop_delay,
        )
        try:
            await made.start()
            yield made
        finally:
            await made.stop()

    return pair


async def test_a_worker_whose_lock_session_is_ended_stops_before_its_share_moves(
    pairs: Pairs, leases_pool: Pool
) -> None:
    """Its runners stop at once, not at its next round (seconds away here); its share
    runs again (on either worker: it comes back with a new session) within a second."""
    async with pairs(x_interval=3.0) as pair:
        before = {name: running.runner for name, running in pair.x.running.items()}
        await leases_pool.fetchval(
            "SELECT pg_terminate_backend($1)",
            await lock_session_pid(leases_pool, pair.x.leases.worker_id),
        )
        took = await _until(lambda: _resumed(pair, before), 5)
        assert took < 1.0, took
        # A share counts as moved once a worker holds its lease, a moment before the
        # new runner starts: the old one must have ended by then, which `overlaps`
        # (a run started while another ran) checks whenever it happens.
        await _until(lambda: all(id(r) in pair.watch.ended for r in before.values()), 2)
        assert pair.watch.overlaps == []


async def test_a_worker_slow_to_stop_keeps_its_share_until_its_runners_ended(
    pairs: Pairs, leases_pool: Pool
) -> None:
    """Its runners take 0.8 s to end after its lock session is ended: no other worker
    starts one of its projections before then, yet they move as soon as it stopped.
    (Its timed lease, 10 s here, is what a worker stopping for longer gets.)"""
    async with pairs(x_interval=3.0, stop_delay=0.8, ttl=10.0) as pair:
        before = {name: running.runner for name, running in pair.x.running.items()}
        await leases_pool.fetchval(
            "SELECT pg_terminate_backend($1)",
            await lock_session_pid(leases_pool, pair.x.leases.worker_id),
        )
        took = await _until(lambda: _resumed(pair, before), 5)
        assert pair.watch.overlaps == []
        # Then a grace (0.3 s) and the next poll.
        assert pair.watch.stop_delay <= took < pair.watch.stop_delay + 1.5, took


async def test_a_worker_cut_off_from_the_database_stops_before_its_share_moves(
    pairs: Pairs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lease table hangs for `x` (a network partition); its lock session stays open
    on the server, so only the timed lease frees `x`'s share."""
    async with pairs() as pair:
        moved = set(pair.x.running)
        hung = asyncio.Event()

        async def hang(*_: Any) -> None:
            await hung.wait()

        async def keep_session() -> None:  # what x closes never reaches the server
            pair.x.leases.held = set()

        monkeypatch.setattr(pair.x.leases, "rebalance", hang)
        monkeypatch.setattr(pair.x.leases, "drop", keep_session)
        cut_at = time.monotonic()
        await _until(lambda: not pair.x.running, 5)
        stopped = time.monotonic() - cut_at
        await _until(lambda: moved <= set(pair.y.running), 10)
        took = time.monotonic() - cut_at
        assert stopped <= pair.x.leases.fence_after + 0.5
        # Not before x's lease ran out: `ttl` after its last heartbeat, one interval at most
        # before the cut.
        assert took >= pair.y.leases.ttl - pair.x.interval, took
        assert pair.watch.overlaps == []
        hung.set()
