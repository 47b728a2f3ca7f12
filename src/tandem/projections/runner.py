"""The projection runner: catch up from the checkpoint, then follow the log live.

The runner sleeps on the log head's `VersionWatch` (advanced by every commit) instead
of polling. A batch that fails is narrowed to single events so the checkpoint stops
right before the failing one; that event is retried with backoff and, if it keeps
failing, the runner stops in the visible `failed` state. It never skips an event.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import structlog

from tandem import tracing
from tandem.consistency import VersionWatch
from tandem.deadletters import PARKED, DeadLetters
from tandem.errors import ReadModelLost
from tandem.eventlog.base import EventLogReader
from tandem.messages import StoredEvent
from tandem.projections.base import AsyncProjection, Projection, ProjectionStore
from tandem.projections.read_ahead import ReadAhead
from tandem.unavailable import unavailable

log = logging.getLogger("tandem.projections")


# How often a runner re-reads which aggregates have parked events, in seconds.
PARKED_REREAD = 1.0
# Events applied between two `settle` calls of a store (see `ProjectionRunner`).
SETTLE_AFTER = 10_000
BEHIND = "behind a parked event of its aggregate"


class PoisonPolicy(StrEnum):
    """What a projection does with an event that keeps failing after its retries."""

    FAIL = "fail"  # stop in `failed` at the event: nothing after it is applied
    PARK = "park"  # park it (and its aggregate's later events) as dead letters, go on


class ProjectionState(StrEnum):
    STARTING = "starting"
    CATCHING_UP = "catching_up"
    LIVE = "live"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failing event is retried before giving up."""

    attempts: int = 5
    first_delay: float = 0.05
    max_delay: float = 2.0

    def delay(self, attempt: int) -> float:
        return float(min(self.max_delay, self.first_delay * 2**attempt))


class ProjectionRunner:
    """Runs one asynchronous projection against one store."""

    mode = "async"

    def __init__(
        self,
        projection: Projection[Any] | AsyncProjection[Any],
        store: ProjectionStore[Any],
        log_reader: EventLogReader,
        head: VersionWatch,
        *,
        batch_size: int = 500,
        max_batch_size: int | None = None,
        retry: RetryPolicy | None = None,
        idle_poll: float = 1.0,
        linger: float = 0.02,
        policy: PoisonPolicy = PoisonPolicy.FAIL,
        dead_letters: DeadLetters | None = None,
        settle_after: int = SETTLE_AFTER,
    ) -> None:
        self.projection = projection
        self.store = store
        self.log_reader = log_reader
        self.head = head
        self.checkpoint = VersionWatch(0)
        self.state = ProjectionState.STARTING
        self.error: str | None = None
        self.failed_position: int | None = None
        self.batch_size = batch_size
        # Behind, each full batch doubles the next one up to this (by default eight
        # times `batch_size`): fewer transactions and checkpoints per event while
        # catching up (a fifth to a third more events/s at 2,000 than at 500). A
        # batch that reaches the end of the log brings it back to `batch_size`.
        self.max_batch_size = max(batch_size, max_batch_size or 8 * batch_size)
        self._limit = batch_size
        self.retry = retry or RetryPolicy()
        # Commits in this process wake the runner at once; the timeout only catches
        # writers in other processes sharing the same log.
        self.idle_poll = idle_poll
        # Live, the shortest time from one round (read, apply, checkpoint) to the next:
        # under load each store transaction then carries the events of `linger`
        # seconds instead of one, a few milliseconds of lag buying a several-fold drop
        # in per-event cost for every projection; a commit after a quiet spell longer
        # than `linger` is folded at once.
        self.linger = linger
        self._round_at = -linger
        self.behind_since: float | None = None
        self.events_applied = 0
        # A store that can refresh what it knows about its data (`settle`: the planner's
        # statistics of PostgreSQL tables) is asked to each time the runner turns live
        # with this many events applied since it last did. It settles beside the fold,
        # which goes on meanwhile: an ANALYZE of large tables takes a second, which
        # would otherwise be a second of lag for every command behind it.
        self.settle_after = settle_after
        self._settled_at = 0
        self._settling: asyncio.Task[None] | None = None
        self.unavailable_waits = 0
        if policy is PoisonPolicy.PARK and dead_letters is None:
            raise ValueError("the park policy needs a dead-letter store")
        self.policy = policy
        self.dead_letters = dead_letters
        # Aggregates with parked events: their later events are parked behind them. Re-read
        # now and then, so a retry or skip elsewhere releases them.
        self.parked: set[str] = set()
        self._parked_read = 0.0
        self.events_parked = 0

    @property
    def name(self) -> str:
        return self.projection.name

    async def start(self) -> None:
        """Create the read model if needed and load the stored checkpoint."""
        self.checkpoint.advance(await self.store.setup(self.projection))
        if self.dead_letters is not None:
            await self.dead_letters.forget_after(self.name, self.checkpoint.value)
            await self._read_parked()

    async def _read_parked(self) -> None:
        assert self.dead_letters is not None
        self.parked = await self.dead_letters.parked_aggregates(self.name)
        self._parked_read = time.monotonic()

    async def run(self) -> None:
        """Apply events until cancelled or failed."""
        if self.state is ProjectionState.STARTING:
            await self.start()
        try:
            await self._loop()
        except asyncio.CancelledError:
            if self.state is not ProjectionState.FAILED:
                self.state = ProjectionState.STOPPED
            raise
        finally:
            if self._settling is not None:
                self._settling.cancel()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        ahead: ReadAhead | None = None
        try:
            while True:
                position = self.checkpoint.value
                started = loop.time()
                if ahead is not None and ahead.after == position:
                    events = await ahead.events()
                    if events is None:  # the read ahead failed: read again, with retries
                        events = await self._read(position)
                else:
                    if ahead is not None:
                        ahead.drop()
                    events = await self._read(position)
                ahead = None
                if events is None:
                    return
                if not events:
                    await self._live()
                    if self.head.value <= position:
                        if await self.head.wait_for(position + 1, timeout=self.idle_poll):
                            await self._pace(loop)
                        else:
                            await self._verify_store()
                    else:
                        # The head moved in another process or the read raced the commit.
                        await asyncio.sleep(0)
                    continue
                self._round_at = started
                full = len(events) == self._limit
                if self.state is not ProjectionState.LIVE or full:
                    self.state = ProjectionState.CATCHING_UP
                if self.behind_since is None:
                    self.behind_since = events[0].recorded_at
                self.head.advance(events[-1].position)
                if full:
                    # Behind: the next batch is read while this one is applied.
                    self._limit = min(2 * self._limit, self.max_batch_size)
                    ahead = ReadAhead(self.log_reader, events[-1].position, self._limit)
                if not await self._apply(events):
                    return
                if not full:
                    # The read found the end of the log: whatever came since is live traffic.
                    self._limit = self.batch_size
                    await self._live()
                    # Live under load: gather the next events until the round is due rather
                    # than starting a transaction per handful of commits.
                    await self._pace(loop)
        finally:
            if ahead is not None:
                ahead.drop()

    async def _pace(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait until `linger` has passed since the last round began (not at all after
        a quiet spell)."""
        wait = self._round_at + self.linger - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)

    async def _read(self, position: int) -> list[StoredEvent] | None:
        """The next batch; a failing read is retried like a failing event, then stops."""
        attempt = 0
        while attempt < self.retry.attempts:
            try:
                return await self.log_reader.read_after(position, self._limit)
            except Exception as exc:
                self.error = f"reading the event log: {type(exc).__name__}: {exc}"
                log.warning("projection %s: %s", self.name, self.error)
                if unavailable(exc):
                    await self._wait_for_store()
                    continue
                if attempt + 1 < self.retry.attempts:
                    await asyncio.sleep(self.retry.delay(attempt))
                attempt += 1
        self.state = ProjectionState.FAILED
        log.error("projection %s: stopped, the event log cannot be read: %s", self.name, self.error)
        return None

    async def _apply(self, events: list[StoredEvent]) -> bool:
        if self.dead_letters is not None:
            while time.monotonic() - self._parked_read > PARKED_REREAD:
                try:
                    await self._read_parked()
                except Exception as exc:
                    if not unavailable(exc):
                        raise
                    # Which aggregates are parked decides what this batch parks: wait.
                    self.error = f"reading dead letters: {type(exc).__name__}: {exc}"
                    log.warning("projection %s: store unavailable: %s", self.name, self.error)
                    await self._wait_for_store()
            if any(self._behind_parked(e) for e in events):
                return await self._apply_around_parked(events)
        return await self._apply_batch(events)

    def _behind_parked(self, event: StoredEvent) -> bool:
        return event.aggregate_id in self.parked and event.type in self.projection.event_types

    async def _apply_around_parked(self, events: list[StoredEvent]) -> bool:
        """Apply the batch, parking every event of an aggregate that has parked ones."""
        run: list[StoredEvent] = []
        for event in events:
            if not self._behind_parked(event):
                run.append(event)
                continue
            if run and not await self._apply_batch(run):
                return False
            run = []
            if not await self._park(event, BEHIND):
                return False
        return not run or await self._apply_batch(run)

    async def _park(self, event: StoredEvent, error: str) -> bool:
        """Record the event as a dead letter, then move the checkpoint past it; if either
        fails, stop in `failed` at the event, as the `fail` policy would."""
        assert self.dead_letters is not None
        try:
            await self.dead_letters.park(self.name, event, error)
            passed = dataclasses.replace(event, type=PARKED)
            self._advance(await self.store.apply(self.projection, [passed]), [])
        except Exception as exc:
            self.error = f"parking position {event.position}: {type(exc).__name__}: {exc}"
            self.failed_position = event.position
            self.state = ProjectionState.FAILED
            log.error("projection %s: stopped: %s", self.name, self.error)
            return False
        self.parked.add(event.aggregate_id)
        self.events_parked += 1
        log.warning("projection %s: parked position %s: %s", self.name, event.position, error)
        return True

    async def _apply_batch(self, events: list[StoredEvent]) -> bool:
        while True:
            try:
                with tracing.batch(self.name, events, self.projection.event_types):
                    self._advance(await self.store.apply(self.projection, events), events)
                if log.isEnabledFor(logging.DEBUG):
                    self._log_applied(events)
                return True
            except ReadModelLost:
                raise
            except Exception as exc:
                if not unavailable(exc):
                    break
                self.error = f"{type(exc).__name__}: {exc}"
                log.warning("projection %s: store unavailable: %s", self.name, self.error)
                await self._wait_for_store()
        if len(events) > 1:
            log.warning("projection %s: batch failed, applying one by one", self.name)
            for event in events:
                if self._behind_parked(event):  # parked a moment ago, in this batch
                    if not await self._park(event, BEHIND):
                        return False
                elif not await self._apply_one(event):
                    return False
            return True
        return await self._apply_one(events[0])

    def _log_applied(self, events: list[StoredEvent]) -> None:
        """One debug line per event, with the ids of the command that caused it."""
        for event in events:
            if event.type not in self.projection.event_types:
                continue
            with structlog.contextvars.bound_contextvars(
                correlation_id=event.correlation_id,
                causation_id=event.causation_id,
                projection=self.name,
                position=event.position,
            ):
                log.debug("projection %s applied %s", self.name, event.type)

    async def _apply_one(self, event: StoredEvent) -> bool:
        with structlog.contextvars.bound_contextvars(
            correlation_id=event.correlation_id,
            causation_id=event.causation_id,
            projection=self.name,
            position=event.position,
        ):
            return await self._retry_one(event)

    async def _retry_one(self, event: StoredEvent) -> bool:
        attempt = 0
        while attempt < self.retry.attempts:
            try:
                with tracing.batch(self.name, [event], self.projection.event_types):
                    self._advance(await self.store.apply(self.projection, [event]), [event])
                if attempt:
                    log.info("projection %s: position %s applied", self.name, event.position)
                return True
            except ReadModelLost:
                raise
            except Exception as exc:  # the runner decides; nothing is skipped
                self.error = f"{type(exc).__name__}: {exc}"
                if unavailable(exc):  # not the event's fault: wait for the store
                    log.warning("projection %s: store unavailable: %s", self.name, self.error)
                    await self._wait_for_store()
                    continue
                attempt += 1
                log.warning(
                    "projection %s: position %s failed (attempt %s/%s): %s",
                    self.name,
                    event.position,
                    attempt,
                    self.retry.attempts,
                    self.error,
                )
                if attempt < self.retry.attempts:
                    await asyncio.sleep(self.retry.delay(attempt - 1))
        if self.policy is PoisonPolicy.PARK:
            return await self._park(event, self.error or "failed")
        self.failed_position = event.position
        self.state = ProjectionState.FAILED
        log.error(
            "projection %s: stopped at checkpoint %s; position %s keeps failing: %s",
            self.name,
            self.checkpoint.value,
            event.position,
            self.error,
        )
        return False

    async def _live(self) -> None:
        """At the end of the log: live, and the store settled (in the background) if much
        was applied since it last was (a failure there costs query plans, not data)."""
        self.state = ProjectionState.LIVE
        self.behind_since = None
        if self.events_applied - self._settled_at < self.settle_after:
            return
        settle = getattr(self.store, "settle", None)
        if settle is None or (self._settling is not None and not self._settling.done()):
            return
        self._settled_at = self.events_applied
        self._settling = asyncio.create_task(self._settle(settle), name=f"settle:{self.name}")

    async def _settle(self, settle: Callable[[Any], Awaitable[list[str]]]) -> None:
        try:
            settled = await settle(self.projection)
        except Exception as exc:
            log.warning("projection %s: settling the store failed: %s", self.name, exc)
            return
        log.info("projection %s: settled %s", self.name, ", ".join(settled) or "nothing")

    async def _verify_store(self) -> None:
        """Idle: ask a store that can tell whether it lost what was applied (raises
        `ReadModelLost` then); an unreachable store is left for the next batch."""
        verify = getattr(self.store, "verify", None)
        if verify is None:
            return
        try:
            await verify(self.projection)
        except ReadModelLost:
            raise
        except Exception as exc:
            if not unavailable(exc):
                raise

    async def _wait_for_store(self) -> None:
        """Back off while a store is unreachable: its outage is not a poison event."""
        self.unavailable_waits += 1
        await asyncio.sleep(self.retry.delay(min(self.unavailable_waits, 8)))

    def _advance(self, checkpoint: int, events: list[StoredEvent]) -> None:
        # Counted by event, not by position: positions need not be dense (PostgreSQL's
        # are transaction ids), and a store skips what an earlier owner applied.
        floor = self.checkpoint.value
        self.events_applied += sum(1 for e in events if floor < e.position <= checkpoint)
        self.checkpoint.advance(checkpoint)
        self.error = None
        self.unavailable_waits = 0

    def lag_seconds(self) -> float:
        if self.behind_since is None or self.checkpoint.value >= self.head.value:
            return 0.0
        return max(0.0, time.time() - self.behind_since)
