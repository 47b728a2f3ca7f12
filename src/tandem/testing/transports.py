"""The transport contract: what a projection runner is fed, it applies once, in order.

A transport carries the event log to projection runners: in-process (the log and a
head watched by commits), the log in PostgreSQL woken by LISTEN/NOTIFY, or a JetStream
stream filled by a relay. Whatever it is, a runner fed by it must apply every committed
event exactly once and in position order, wake for live events without polling,
resume after a restart without loss or second effect, and fold everything again into a
wiped store.

Subclass `TransportContract` and provide a `transport_backend` fixture yielding a
`TransportBackend` on a fresh log:

    class TestMyTransport(TransportContract):
        @pytest.fixture
        async def transport_backend(self) -> AsyncIterator[TransportBackend]:
            backend = MyBackend()          # append(events), open_source(consumer)
            yield backend
            await backend.close()

The suite brings its own in-memory projection store (checkpoint and applied events in
one place, skipping what the checkpoint covers), so only the transport is under test.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from tandem.consistency import VersionWatch
from tandem.eventlog.base import EventLogReader, NewEvent
from tandem.messages import StoredEvent
from tandem.projections.base import AsyncProjection
from tandem.projections.runner import ProjectionRunner, ProjectionState

RECORDED = "Recorded"


@dataclass
class Source:
    """What one consumer reads: a log reader, the head it sleeps on, how to close it."""

    reader: EventLogReader
    head: VersionWatch
    close: Callable[[], Awaitable[None]]


class TransportBackend(Protocol):
    async def append(self, events: Sequence[NewEvent]) -> list[StoredEvent]:
        """Append `events` in one committed transaction of the log."""
        ...

    async def open_source(self, consumer: str) -> Source:
        """A source for the named consumer; the same name resumes the same consumer."""
        ...


class Recording(AsyncProjection["MemoryStore"]):
    """Records the positions it applies, in order."""

    name: ClassVar[str] = "contract_recording"
    event_types = frozenset({RECORDED})

    async def setup(self, tx: MemoryStore) -> None:
        return None

    async def apply(self, tx: MemoryStore, event: StoredEvent) -> None:
        tx.applied.append(event.position)


@dataclass
class MemoryStore:
    """A projection store in memory: the checkpoint moves with the applied list."""

    kind: str = "memory"
    checkpoint: int = 0
    applied: list[int] = field(default_factory=list)

    async def setup(self, projection: Any) -> int:
        return self.checkpoint

    async def apply(self, projection: Any, events: list[StoredEvent]) -> int:
        for event in events:
            if event.position <= self.checkpoint:
                continue
            if event.type in projection.event_types:
                await projection.apply(self, event)
            self.checkpoint = event.position
        return self.checkpoint

    async def apply_parked(self, projection: Any, events: list[StoredEvent]) -> None:
        for event in events:
            if event.type in projection.event_types:
                await projection.apply(self, event)


def recorded(aggregate: str, first_version: int, count: int) -> list[NewEvent]:
    return [
        NewEvent(RECORDED, 1, "contract", aggregate, first_version + i, {"i": i})
        for i in range(count)
    ]


@contextlib.asynccontextmanager
async def running(
    backend: TransportBackend, store: MemoryStore, consumer: str, *, idle_poll: float = 1.0
) -> AsyncIterator[ProjectionRunner]:
    """A runner on `store`, fed by a fresh source of `consumer`, for the block's length."""
    source = await backend.open_source(consumer)
    runner = ProjectionRunner(
        Recording(), store, source.reader, source.head, idle_poll=idle_poll, linger=0.0
    )
    await runner.start()
    task = asyncio.create_task(runner.run())
    try:
        yield runner
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await source.close()


async def reach(runner: ProjectionRunner, position: int, timeout: float = 20) -> None:
    reached = await runner.checkpoint.wait_for(position, timeout)
    assert reached, f"runner stopped at {runner.checkpoint.value}, wanted {position}"
    assert runner.state is not ProjectionState.FAILED, runner.error


class TransportContract:
    """The transport contract; subclass it with a `transport_backend` fixture."""

    async def test_every_event_is_applied_once_in_order_before_and_while_live(
        self, transport_backend: TransportBackend
    ) -> None:
        backend = transport_backend
        written = [e.position for e in await backend.append(recorded("a", 1, 120))]
        store = MemoryStore()
        async with running(backend, store, "first") as runner:
            await reach(runner, written[-1])
            for batch in range(10):
                events = recorded(f"live-{batch % 3}", batch // 3 * 7 + 1, 7)
                written += [e.position for e in await backend.append(events)]
            await reach(runner, written[-1])
        assert store.applied == written

    async def test_a_live_event_wakes_the_runner_without_polling(
        self, transport_backend: TransportBackend
    ) -> None:
        backend = transport_backend
        first = await backend.append(recorded("a", 1, 1))
        store = MemoryStore()
        # An idle poll of a minute: only a wake-up can deliver the next event in time.
        async with running(backend, store, "waker", idle_poll=60) as runner:
            await reach(runner, first[-1].position)
            await asyncio.sleep(0.2)
            later = await backend.append(recorded("a", 2, 1))
            await reach(runner, later[-1].position, timeout=10)
        assert store.applied == [first[0].position, later[0].position]

    async def test_a_restarted_consumer_resumes_without_loss_or_second_effect(
        self, transport_backend: TransportBackend
    ) -> None:
        backend = transport_backend
        written = [e.position for e in await backend.append(recorded("a", 1, 50))]
        store = MemoryStore()
        async with running(backend, store, "restarted") as runner:
            await reach(runner, written[-1])
        written += [e.position for e in await backend.append(recorded("a", 51, 50))]
        async with running(backend, store, "restarted") as runner:
            await reach(runner, written[-1])
        assert store.applied == written

    async def test_a_wiped_store_folds_everything_again(
        self, transport_backend: TransportBackend
    ) -> None:
        backend = transport_backend
        written = [e.position for e in await backend.append(recorded("a", 1, 80))]
        async with running(backend, MemoryStore(), "wiped") as runner:
            await reach(runner, written[-1])
        fresh = MemoryStore()  # the read store lost everything; the consumer did not
        async with running(backend, fresh, "wiped") as runner:
            await reach(runner, written[-1])
        assert fresh.applied == written


__all__ = [
    "MemoryStore",
    "Recording",
    "Source",
    "TransportBackend",
    "TransportContract",
    "recorded",
]
