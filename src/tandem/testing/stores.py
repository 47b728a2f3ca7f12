"""The projection-store contract: checkpoint and read model change together, exactly once.

Delivery to projections is at-least-once (a worker restarts, a batch is retried, two
workers race for one projection), so a `ProjectionStore` turns it into an exactly-once
effect: it applies only the events past its stored checkpoint and stores the new
checkpoint in the same transaction as the read-model change (`design-notes.md` §2). The
suite checks that promise from outside, through a *counting* projection that records,
per aggregate id, how many events it applied and the position of the last one: any
double or lost application shows up in the counts.

The counting projection is store specific, so the subclass writes it (a table, a Redis
hash...). It must be named `COUNTING_PROJECTION`, handle only events of type `COUNTED`,
and call `fail_if_chosen(event, fail_at)` *after* its write, so a failing batch has
already changed something the store must roll back:

    class SqliteCounting(Projection[sqlite3.Connection]):
        name = COUNTING_PROJECTION
        event_types = frozenset({COUNTED})

        def __init__(self, fail_at: int | None = None) -> None:
            self.fail_at = fail_at

        def setup(self, tx): tx.execute("CREATE TABLE IF NOT EXISTS counts (...)")

        def apply(self, tx, event):
            tx.execute("INSERT … ON CONFLICT DO UPDATE SET applied = applied + 1 …")
            fail_if_chosen(event, self.fail_at)

Then subclass `ProjectionStoreContract` with a `store_backend` fixture yielding a
`StoreBackend` on fresh backing data (an async fixture needs `@pytest_asyncio.fixture`
under pytest-asyncio's strict mode):

    class TestSqliteStore(ProjectionStoreContract[SqliteProjectionStore, SqliteCounting]):
        @pytest.fixture
        def store_backend(self, tmp_path: Path) -> SqliteBackend:
            return SqliteBackend(tmp_path / "read.db")  # open_store, projection, counts

A store that refuses the loser of a race instead of serializing (Redis raises
`CheckpointMoved`) lists that error in `concurrent_refusals`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import pytest

from tandem.messages import StoredEvent
from tandem.projections.base import ProjectionStore

COUNTING_PROJECTION = "contract_counts"
COUNTED = "Counted"
IGNORED = "Ignored"
# Realistic positions: sparse, and past 2^32 (PostgreSQL's xid positions are near 2^40).
FIRST_POSITION = 2**40

# aggregate id -> (events applied, position of the last one applied)
Counts = dict[str, tuple[int, int]]

P = TypeVar("P")
P_co = TypeVar("P_co", covariant=True)
S = TypeVar("S", bound=ProjectionStore[Any])


class InjectedFailure(Exception):
    """Raised by a counting projection on the event the contract chose to fail."""


def fail_if_chosen(event: StoredEvent, fail_at: int | None) -> None:
    """Raise `InjectedFailure` when `event` is at the chosen position."""
    if event.position == fail_at:
        raise InjectedFailure(f"projection fails on position {event.position}, as asked")


class StoreBackend(Protocol[S, P_co]):
    """What a subclass of `ProjectionStoreContract` hands the suite, one per test."""

    async def open_store(self) -> S:
        """A new store object on this test's backing data (the same data every call)."""
        ...

    async def close_store(self, store: S) -> None: ...

    def projection(self, *, fail_at: int | None = None) -> P_co:
        """The counting projection; it raises `InjectedFailure` at position `fail_at`."""
        ...

    async def counts(self, store: S) -> Counts:
        """What the counting projection's read model holds now (after `setup`)."""
        ...


def make_events(count: int, *, after: int = FIRST_POSITION, first: int = 0) -> list[StoredEvent]:
    """`count` events with sparse, increasing positions past `after`, spread over three
    aggregates; every fourth is of a type the counting projection does not handle.

    `first` numbers the events, so `make_events(5, after=p, first=10)` continues a
    history whose tenth event is at `p`.
    """
    events: list[StoredEvent] = []
    position = after
    for n in range(first, first + count):
        position += 1 + n % 5
        aggregate = ["a", "b", "ägg-✓"][n % 3]
        events.append(
            StoredEvent(
                position=position,
                type=IGNORED if n % 4 == 3 else COUNTED,
                schema_version=1,
                aggregate_type="contract",
                aggregate_id=aggregate,
                aggregate_version=n // 3 + 1,
                recorded_at=1_700_000_000.0 + n,
                correlation_id="contract",
                causation_id="contract",
                data={"n": n},
            )
        )
    return events


def expected_counts(events: Sequence[StoredEvent]) -> Counts:
    """The counts of applying each of `events` exactly once, in order."""
    counts: Counts = {}
    for event in events:
        if event.type == COUNTED:
            applied, _ = counts.get(event.aggregate_id, (0, 0))
            counts[event.aggregate_id] = (applied + 1, event.position)
    return counts


def _union(*batches: Sequence[StoredEvent]) -> list[StoredEvent]:
    """Every event of `batches` once, in position order."""
    events = {e.position: e for batch in batches for e in batch}
    return [events[p] for p in sorted(events)]


@contextlib.asynccontextmanager
async def opened(backend: StoreBackend[S, P]) -> AsyncIterator[S]:
    store = await backend.open_store()
    try:
        yield store
    finally:
        await backend.close_store(store)


class ProjectionStoreContract(Generic[S, P]):
    """The projection-store contract; subclass it with a `store_backend` fixture.

    The fixture yields a `StoreBackend` on fresh backing data for every test.
    `concurrent_refusals` lists what `apply` may raise, having written nothing, when
    another writer applied the same projection at the same time.
    """

    concurrent_refusals: ClassVar[tuple[type[BaseException], ...]] = ()

    @pytest.mark.asyncio
    async def test_setup_is_idempotent_and_returns_the_stored_checkpoint(
        self, store_backend: StoreBackend[S, P]
    ) -> None:
        async with opened(store_backend) as store:
            projection = store_backend.projection()
            assert await store.setup(projection) == 0
            assert await store.setup(projection) == 0
            assert await store_backend.counts(store) == {}
            events = make_events(6)
            assert await store.apply(projection, events) == events[-1].position
            assert await store.setup(projection) == events[-1].position
            assert await store_backend.counts(store) == expected_counts(events), (
                "a second setup must keep the read model"
            )

    @pytest.mark.asyncio
    async def test_apply_returns_the_last_position_and_moves_past_unhandled_events(
        self, store_backend: StoreBackend[S, P]
    ) -> None:
        async with opened(store_backend) as store:
            projection = store_backend.projection()
            await store.setup(projection)
            events = make_events(8)
            assert events[-1].type == IGNORED
            assert await store.apply(projection, events) == events[-1].position
            assert await store_backend.counts(store) == expected_counts(events)
            assert await store.setup(projection) == events[-1].position
            # A batch of nothing the projection handles still moves the checkpoint.
            later = make_events(8, after=events[-1].position, first=8)
            unhandled = [e for e in later if e.type == IGNORED]
            assert await store.apply(projection, unhandled) == unhandled[-1].position
            assert await store.setup(projection) == unhandled[-1].position
            assert await store_backend.counts(store) == expected_counts(events)
            # An empty batch changes nothing and answers the stored checkpoint.
            assert await store.apply(projection, []) == unhandled[-1].position

    @pytest.mark.asyncio
    async def test_a_parked_event_applies_again_without_moving_the_checkpoint(
        self, store_backend: StoreBackend[S, P]
    ) -> None:
        async with opened(store_backend) as store:
            projection = store_backend.projection()
            await store.setup(projection)
            events = make_events(9)
            poison = events[4]
            assert poison.type == COUNTED
            # What a runner does with a poison event: move past it without applying it.
            passed = [*events[:4], dataclasses.replace(poison, type=IGNORED), *events[5:]]
            assert await store.apply(projection, passed) == events[-1].position
            without = expected_counts([*events[:4], *events[5:]])
            assert await store_backend.counts(store) == without
            await store.apply_parked(projection, [poison])
            applied = {k: n for k, (n, _) in (await store_backend.counts(store)).items()}
            assert applied == {k: n for k, (n, _) in expected_counts(events).items()}
            assert await store.setup(projection) == events[-1].position
            # The checkpoint did not move back: a redelivered batch still does nothing.
            assert await store.apply(projection, events) == events[-1].position
            again = {k: n for k, (n, _) in (await store_backend.counts(store)).items()}
            assert again == applied

    @pytest.mark.asyncio
    async def test_a_redelivered_batch_has_no_second_effect(
        self, store_backend: StoreBackend[S, P]
    ) -> None:
        async with opened(store_backend) as store:
            projection = store_backend.projection()
            await store.setup(projection)
            events = make_events(9)
            last = await store.apply(projection, events)
            assert await store.apply(projection, events) == last
            # An old batch, wholly below the checkpoint, must not move it back.
            assert await store.apply(projection, events[:4]) == last
            assert await store.setup(projection) == last
            assert await store_backend.counts(store) == expected_counts(events)

    @pytest.mark.asyncio
    async def test_overlapping_batches_apply_each_event_once(
        self, store_backend: StoreBackend[S, P]
    ) -> None:
        async with opened(store_backend) as store:
            projection = store_backend.projection()
            await store.setup(projection)
            events = make_events(14)
            assert await store.apply(projection, events[:6]) == events[5].position
            assert await store.apply(projection, events[3:10]) == events[9].position
            assert await store.apply(projection, events[0:14]) == events[13].position
            assert await store_backend.counts(store) == expected_counts(events)

    @pytest.mark.asyncio
    async def test_a_batch_applied_in_pieces_equals_one_batch(
        self, store_backend: StoreBackend[S, P]
    ) -> None:
        events = make_events(15)
        async with opened(store_backend) as store:
            projection = store_backend.projection()
            await store.setup(projection)
            start = 0
            for size in (1, 0, 2, 3, 4, 5):
                piece = events[start : start + size]
                returned = await store.apply(projection, piece)
                start += size
                assert returned == (events[start - 1].position if start else 0)
            assert await store.setup(projection) == events[-1].position
            assert await store_backend.counts(store) == expected_counts(events)

    @pytest.mark.asyncio
    async def test_concurrent_applies_apply_each_event_exactly_once(
        self, store_backend: StoreBackend[S, P]
    ) -> None:
        """Two store objects on the same data, as two workers would hold, apply at once:
        the same batch, then overlapping batches. A store serializes them or refuses
        one (writing nothing); the refused one then retries."""
        events = make_events(36)
        refusals = self.concurrent_refusals
        async with opened(store_backend) as first, opened(store_backend) as second:
            stores = [first, second]
            projections = [store_backend.projection(), store_backend.projection()]
            for store, projection in zip(stores, projections, strict=True):
                await store.setup(projection)
            applied: list[StoredEvent] = []
            # Both batches start right after the checkpoint, as a runner's would; whichever
            # loses, one round leaves it events past the winner's checkpoint to retry.
            rounds = (
                [events[:8], events[:8]],
                [events[8:16], events[8:24]],
                [events[24:], events[24:30]],
            )
            for batches in rounds:
                results = await asyncio.gather(
                    *(s.apply(p, b) for s, p, b in zip(stores, projections, batches, strict=True)),
                    return_exceptions=True,
                )
                for result in results:
                    if isinstance(result, BaseException) and not isinstance(result, refusals):
                        raise result
                refused = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
                winners = [b for i, b in enumerate(batches) if i not in refused]
                assert await store_backend.counts(first) == expected_counts(
                    _union(applied, *winners)
                ), f"after a race (refused: {refused}) each event must be applied once"
                for i in refused:
                    await stores[i].apply(projections[i], batches[i])
                applied = _union(applied, *batches)
                assert await store_backend.counts(second) == expected_counts(applied)
            assert await first.setup(projections[0]) == events[-1].position

    @pytest.mark.asyncio
    async def test_a_failing_apply_changes_neither_read_model_nor_checkpoint(
        self, store_backend: StoreBackend[S, P]
    ) -> None:
        events = make_events(10)
        chosen = events[6]
        assert chosen.type == COUNTED
        async with opened(store_backend) as store:
            projection = store_backend.projection()
            await store.setup(projection)
            await store.apply(projection, events[:3])
            failing = store_backend.projection(fail_at=chosen.position)
            with pytest.raises(InjectedFailure):
                await store.apply(failing, events[3:9])
            assert await store_backend.counts(store) == expected_counts(events[:3])
            assert await store.setup(projection) == events[2].position
            # The retry, once the projection is fixed, applies the whole batch.
            assert await store.apply(projection, events[3:9]) == events[8].position
            assert await store_backend.counts(store) == expected_counts(events[:9])

    @pytest.mark.asyncio
    async def test_the_checkpoint_survives_reopening_the_store(
        self, store_backend: StoreBackend[S, P]
    ) -> None:
        events = make_events(12)
        async with opened(store_backend) as store:
            projection = store_backend.projection()
            await store.setup(projection)
            await store.apply(projection, events[:7])
        async with opened(store_backend) as store:
            projection = store_backend.projection()
            assert await store.setup(projection) == events[6].position
            assert await store_backend.counts(store) == expected_counts(events[:7])
            assert await store.apply(projection, events) == events[-1].position
            assert await store_backend.counts(store) == expected_counts(events)
