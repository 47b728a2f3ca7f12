"""A projection worker process: runs the projections whose leases it holds.

Every `interval` the worker rebalances its leases (`tandem.leases`), and sooner when
a lease falls vacant (polled every `poll`: a worker died and PostgreSQL let its locks
go, or one gave leases back). It starts a fresh runner for each projection it acquired
(the runner reloads the stored checkpoint, so a takeover resumes exactly where the
previous owner's last committed batch ended) and stops the runners of leases it gives
back or lost. It stops every runner at once when its lock session closes, and when it
could not renew its heartbeat for `Leases.fence_after`, before any other worker may
count it dead. Each checkpoint advance is announced with `NOTIFY tandem_checkpoints` so
API processes wake waiting queries at once, and each projection's state is reported to
`tandem_projection_status` for `/status`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tandem.errors import ReadModelLost
from tandem.leases import Leases, LeasesLost
from tandem.projections.runner import ProjectionRunner, ProjectionState
from tandem.stopping import finish

if TYPE_CHECKING:
    from tandem.db.postgres import Pool

log = logging.getLogger("tandem.worker")

CHECKPOINT_CHANNEL = "tandem_checkpoints"


async def _nothing() -> None:
    return None


@dataclass
class LeasedRunner:
    """A runner for one lease, and how to release what it opened (a consumer, say)."""

    runner: ProjectionRunner
    close: Callable[[], Awaitable[None]] = _nothing


RunnerFactory = Callable[[], Awaitable[LeasedRunner]]


class _Running:
    def __init__(self, leased: LeasedRunner, tasks: list[asyncio.Task[None]]) -> None:
        self.leased = leased
        self.runner = leased.runner
        self.tasks = tasks


class ProjectionWorker:
    """Runs leased projections until cancelled; gives its leases back on the way out."""

    def __init__(
        self,
        pool: Pool,
        leases: Leases,
        runners: Mapping[str, RunnerFactory],
        *,
        interval: float = 1.0,
        poll: float = 0.1,
        discover: Callable[[], Awaitable[Mapping[str, RunnerFactory]]] | None = None,
    ) -> None:
        self.pool = pool
        self.leases = leases
        self.factories = dict(runners)
        # Asked before every rebalance when the set of projections changes at run time
        # (a rebuild's copy appears, a replaced copy goes).
        self.discover = discover
        self.interval = interval
        self.poll = poll
        # Runners may run until then without a newer heartbeat (`Leases.fence_after`).
        self._fence_at = time.monotonic()
        self.running: dict[str, _Running] = {}
        # Leased projections whose runner must start again (see `_restart_lost`).
        self._restart: set[str] = set()
        self.announcements = CheckpointAnnouncer(pool)

    async def run(self) -> None:
        announcing = asyncio.create_task(self.announcements.run(), name="announce-checkpoints")
        try:
            while True:
                if self.leases.lost.is_set():
                    await self._fence("its lock session closed")
                await self._round()
                if (self.running or self.leases.held) and time.monotonic() >= self._fence_at:
                    await self._fence(f"no heartbeat for {self.leases.fence_after:.1f} s")
                await self._pause()
        finally:
            # Cancelled again while stopping: they are stopped all the same (what ended
            # this run is raised on leaving).
            with contextlib.suppress(asyncio.CancelledError):
                await self._stop(*self.running)
            with contextlib.suppress(Exception):
                await asyncio.shield(self.leases.release_all())
            announcing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await announcing

    async def _round(self) -> None:
        """Rebalance; stop what is given back, then start what was taken (or stop
        everything if the lock session closed under it)."""
        began = time.monotonic()
        try:
            if self.discover is not None:
                self.factories = dict(await self.discover())
            async with asyncio.timeout(self._patience(began)):
                changes = await self.leases.rebalance(list(self.factories))
            self._fence_at = began + self.leases.fence_after
            self._restart.difference_update(changes.surplus)
            await self._stop(*changes.surplus)
            await self.leases.give_back(changes.surplus)
            # Started in `_restart_lost`, which tries again next round if a store is
            # down: a lease held with no runner would stall it.
            self._restart.update(changes.acquired)
            await self._restart_lost()
            await self._report()
        except LeasesLost as exc:
            await self._fence(str(exc))
        except (OSError, ConnectionError, TimeoutError) as exc:
            log.warning("worker %s: lease table unreachable: %s", self.leases.worker_id, exc)
        except Exception as exc:
            log.warning("worker %s: rebalance failed: %s", self.leases.worker_id, exc)

    def _patience(self, began: float) -> float:
        """How long a rebalance may take: while runners run, no later than they must
        stop for want of a heartbeat (a hung connection must not keep them going)."""
        if not (self.running or self.leases.held):
            return self.leases.ttl
        return max(0.1, self._fence_at - began)

    async def _fence(self, why: str) -> None:
        """Stop every runner and let every lease go: this worker can no longer tell it
        holds them, and another may take them over at once."""
        if self.running or self.leases.held:
            log.warning("worker %s: stops every runner: %s", self.leases.worker_id, why)
        self._restart.clear()
        await self._stop(*self.running)
        await self.leases.drop()

    async def _pause(self) -> None:
        """Until the next round: `interval`, or sooner when the lock session closes, a
        lease falls vacant (its worker died or stopped, or gave it back; polled every
        `poll`) or an orphan's grace ends."""
        names = list(self.factories)
        until = time.monotonic() + self.interval
        # A lost lock session matters only while there is something to stop.
        holding = bool(self.running or self.leases.held)
        if holding:
            until = min(until, self._fence_at)
        due = self.leases.due()
        if due is not None:
            until = min(until, due)
        while (left := until - time.monotonic()) > 0:
            # `asyncio.timeout`, not `wait_for`: on Python 3.11 `wait_for` can swallow a
            # cancellation that lands as its wait ends, and this wait ends ten times a
            # second.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, self.poll)):
                    await (self.leases.lost if holding else asyncio.Event()).wait()
                return
            if holding and self.leases.session.broken():
                return
            try:
                if names and await self.leases.vacant(names):
                    return
            except Exception as exc:  # the next round reconnects
                log.debug("worker %s: cannot poll the leases: %s", self.leases.worker_id, exc)

    async def _start(self, name: str) -> None:
        leased = await self.factories[name]()
        runner = leased.runner
        try:
            await runner.start()
        except BaseException:
            await leased.close()
            raise
        tasks = [
            asyncio.create_task(runner.run(), name=f"projection:{name}"),
            asyncio.create_task(self._announce(runner), name=f"announce:{name}"),
        ]
        self.running[name] = _Running(leased, tasks)
        log.info("worker %s: runs %s from %s", self.leases.worker_id, name, runner.checkpoint.value)

    async def _restart_lost(self) -> None:
        """Start again, from what the store holds now, every runner that ended by itself
        except on a poison event: one whose read model went back behind it
        (`ReadModelLost`), or one an unexpected error ended (logged with its traceback).
        A runner stopped `failed` by its poison policy stays stopped for an operator."""
        for name, running in list(self.running.items()):
            task = running.tasks[0]
            if not task.done():
                continue
            error = None if task.cancelled() else task.exception()
            if error is None and running.runner.state is ProjectionState.FAILED:
                continue
            if isinstance(error, ReadModelLost):
                log.warning("worker %s: %s; starting it again", self.leases.worker_id, error)
            else:
                log.error(
                    "worker %s: runner %s ended (%s); starting it again",
                    self.leases.worker_id,
                    name,
                    "cancelled" if task.cancelled() else f"{type(error).__name__}: {error}",
                    exc_info=error,
                )
            await self._stop(name)
            self._restart.add(name)
        for name in sorted(self._restart):
            if name not in self.leases.held:
                self._restart.discard(name)
                continue
            try:
                await self._start(name)
                self._restart.discard(name)
            except Exception as exc:  # the store may still be down: next round
                log.warning("worker %s: cannot start %s yet: %s", self.leases.worker_id, name, exc)

    async def _stop(self, *names: str) -> None:
        """Stop the runners of `names` together (one slow to end holds up no other)."""
        stopping = {name: self.running.pop(name) for name in names if name in self.running}
        if not stopping:
            return
        try:
            await finish([task for running in stopping.values() for task in running.tasks])
        finally:
            for name, running in stopping.items():
                with contextlib.suppress(Exception):
                    await running.leased.close()
                log.info("worker %s: stopped %s", self.leases.worker_id, name)

    async def _announce(self, runner: ProjectionRunner) -> None:
        advanced = runner.checkpoint.listen()
        try:
            while True:
                self.announcements.advanced(runner.name, await advanced.get())
        finally:
            runner.checkpoint.unlisten(advanced)

    async def _report(self) -> None:
        rows = [
            (
                name,
                self.leases.worker_id,
                str(r.runner.state),
                r.runner.checkpoint.value,
                r.runner.error,
                r.runner.events_applied,
                r.runner.lag_seconds(),
            )
            for name, r in self.running.items()
        ]
        if rows:
            await self.pool.executemany(
                "INSERT INTO tandem_projection_status (name, worker, state, checkpoint, error,"
                " events_applied, lag_seconds, updated_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, now()) ON CONFLICT (name) DO UPDATE SET"
                " worker = excluded.worker, state = excluded.state,"
                " checkpoint = excluded.checkpoint, error = excluded.error,"
                " events_applied = excluded.events_applied,"
                " lag_seconds = excluded.lag_seconds, updated_at = excluded.updated_at",
                rows,
            )


class CheckpointAnnouncer:
    """Announces the checkpoints of a worker's runners on `CHECKPOINT_CHANNEL`: one
    NOTIFY, `name:position` pairs separated by spaces, for every runner that advanced
    while the last one was on its way (a round of the runners, under load)."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self._latest: dict[str, int] = {}
        self._wake = asyncio.Event()

    def advanced(self, name: str, position: int) -> None:
        self._latest[name] = max(position, self._latest.get(name, 0))
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            latest, self._latest = self._latest, {}
            for payload in _payloads(latest):
                try:
                    await self.pool.execute("SELECT pg_notify($1, $2)", CHECKPOINT_CHANNEL, payload)
                except Exception as exc:  # API processes also re-read checkpoints
                    log.warning("announcing checkpoints: %s", exc)


# Under PostgreSQL's limit of 8,000 bytes per notification payload.
_PAYLOAD_BYTES = 7_000


def _payloads(latest: Mapping[str, int]) -> list[str]:
    """`name:position` pairs joined by spaces, in payloads that fit a notification."""
    payloads: list[str] = []
    current = ""
    for name, position in latest.items():
        pair = f"{name}:{position}"
        if current and len(current) + 1 + len(pair) > _PAYLOAD_BYTES:
            payloads.append(current)
            current = pair
        else:
            current = f"{current} {pair}" if current else pair
    if current:
        payloads.append(current)
    return payloads


async def failed_part(pool: Pool, names: list[str]) -> tuple[str, str | None] | None:
    """The first of the projections (or partitions) `names` a worker reported failed,
    with its error; None while none has."""
    row = await pool.fetchrow(
        "SELECT name, error FROM tandem_projection_status"
        " WHERE name = ANY($1::text[]) AND state = 'failed' LIMIT 1",
        names,
    )
    return None if row is None else (str(row["name"]), row["error"])


async def forget_reports(pool: Pool, name: str) -> None:
    """Drop what workers reported of `name` (a copy whose storage is gone)."""
    await pool.execute("DELETE FROM tandem_projection_status WHERE name = $1", name)
