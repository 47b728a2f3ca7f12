"""The `park` policy: a poison event becomes a dead letter, its aggregate's later events
wait behind it, everything else goes on; after a fix, a retry applies them in order."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from tests.integration.test_projection_runner import CountingProjection, read_store

from catalog.domain import commands as c
from catalog.runtime.embedded import EmbeddedRuntime
from tandem.deadletters import retry
from tandem.deadletters.sqlite import SqliteDeadLetters
from tandem.messages import StoredEvent
from tandem.projections.runner import (
    PARKED_REREAD,
    PoisonPolicy,
    ProjectionRunner,
    ProjectionState,
    RetryPolicy,
)
from tandem.stores.sqlite import SqliteProjectionStore

FAST_RETRY = RetryPolicy(attempts=2, first_delay=0.01, max_delay=0.02)


class OrderedCounting(CountingProjection):
    """The counting projection, also remembering the order it applied positions in."""

    def __init__(self, poison: int | None = None) -> None:
        super().__init__(poison=poison)
        self.order: list[int] = []

    def apply(self, tx: sqlite3.Connection, event: StoredEvent) -> None:
        super().apply(tx, event)
        self.order.append(event.position)


async def two_products(cat: EmbeddedRuntime, rounds: int) -> tuple[str, str]:
    category = (await cat.command_bus.dispatch(c.CreateCategory(name="Kitchen"))).id
    ids = []
    for sku in ("A", "B"):
        created = await cat.command_bus.dispatch(
            c.CreateProduct(sku=sku, name=sku, category_id=category, price=Decimal("1"))
        )
        ids.append(created.id)
    for i in range(rounds):
        for product in ids:
            await cat.command_bus.dispatch(
                c.AdjustStock(product_id=product, delta=i + 1, reason="delivery")
            )
    return ids[0], ids[1]


async def adjust(cat: EmbeddedRuntime, product: str) -> int:
    return (
        await cat.command_bus.dispatch(
            c.AdjustStock(product_id=product, delta=1, reason="delivery")
        )
    ).version


@pytest.fixture
async def letters(tmp_path: Path) -> AsyncIterator[SqliteDeadLetters]:
    store = SqliteDeadLetters(tmp_path / "dead-letters.db")
    try:
        yield store
    finally:
        store.close()


@contextlib.asynccontextmanager
async def parking_runner(
    cat: EmbeddedRuntime, projection: OrderedCounting, path: Path, letters: SqliteDeadLetters
) -> AsyncIterator[tuple[ProjectionRunner, SqliteProjectionStore]]:
    store = SqliteProjectionStore(path)
    runner = ProjectionRunner(
        projection,
        store,
        cat.log_reader,
        cat.head,
        retry=FAST_RETRY,
        policy=PoisonPolicy.PARK,
        dead_letters=letters,
        linger=0.0,
    )
    await runner.start()
    task = asyncio.create_task(runner.run())
    try:
        yield runner, store
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        store.close()


async def test_a_parked_aggregate_waits_while_the_rest_goes_on_and_a_retry_catches_up(
    catalog: EmbeddedRuntime, tmp_path: Path, letters: SqliteDeadLetters
) -> None:
    product_a, product_b = await two_products(catalog, 5)
    events = await catalog.log_reader.read_after(0, 1000)
    of_a = [e.position for e in events if e.aggregate_id == product_a]
    poison = of_a[2]  # A's second stock adjustment
    behind = [p for p in of_a if p > poison]
    projection = OrderedCounting(poison=poison)
    path = tmp_path / "counter.db"
    async with parking_runner(catalog, projection, path, letters) as (runner, store):
        assert await runner.checkpoint.wait_for(events[-1].position, timeout=10)
        assert runner.state is ProjectionState.LIVE
        parked = await letters.list("application_counter")
        assert [letter.position for letter in parked] == [poison, *behind]
        assert "Poisoned" in parked[0].error
        assert all(letter.aggregate_id == product_a for letter in parked)
        counts, checkpoint = read_store(path)
        assert checkpoint == events[-1].position
        assert set(counts) == {e.position for e in events} - {poison, *behind}
        # New events of A wait behind the parked ones; B's apply at once.
        later_a = await adjust(catalog, product_a)
        later_b = await adjust(catalog, product_b)
        assert await runner.checkpoint.wait_for(later_b, timeout=10)
        assert later_b in read_store(path)[0] and later_a not in read_store(path)[0]
        assert (await letters.list())[-1].position == later_a

        projection.fixed = True
        assert await retry(letters, store, projection, product_a) == len(behind) + 2
        assert await letters.list() == []
        counts, checkpoint = read_store(path)
        assert counts == {e.position: 1 for e in events} | {later_a: 1, later_b: 1}
        assert checkpoint == later_b
        retried = projection.order[-(len(behind) + 2) :]
        assert retried == [poison, *behind, later_a], "a retry keeps the aggregate's order"
        # Once the runner re-reads the letters, A's events apply directly again.
        await asyncio.sleep(1.1)
        again = await adjust(catalog, product_a)
        assert await runner.checkpoint.wait_for(again, timeout=10)
        await asyncio.sleep(0.05)
        assert read_store(path)[0].get(again) == 1
        assert await letters.list() == []


async def test_a_skipped_letter_is_never_applied_and_a_restart_keeps_the_parking(
    catalog: EmbeddedRuntime, tmp_path: Path, letters: SqliteDeadLetters
) -> None:
    product_a, _ = await two_products(catalog, 3)
    events = await catalog.log_reader.read_after(0, 1000)
    poison = [e.position for e in events if e.aggregate_id == product_a][1]
    projection = OrderedCounting(poison=poison)
    path = tmp_path / "counter.db"
    async with parking_runner(catalog, projection, path, letters) as (runner, _store):
        assert await runner.checkpoint.wait_for(events[-1].position, timeout=10)
    # A restarted runner still parks A's new events behind the letters it finds.
    async with parking_runner(catalog, projection, path, letters) as (runner, store):
        later_a = await adjust(catalog, product_a)
        assert await runner.checkpoint.wait_for(later_a, timeout=10)
        assert later_a not in read_store(path)[0]
        await letters.remove("application_counter", [poison])  # skip the poison
        assert await retry(letters, store, projection, product_a) >= 1
        counts = read_store(path)[0]
        assert poison not in counts
        assert counts[later_a] == 1
        assert await letters.list() == []


async def test_letters_the_checkpoint_never_passed_are_forgotten_on_start(
    catalog: EmbeddedRuntime, tmp_path: Path, letters: SqliteDeadLetters
) -> None:
    """A crash between parking and moving the checkpoint: the event comes round again."""
    await two_products(catalog, 2)
    events = await catalog.log_reader.read_after(0, 1000)
    await letters.park("application_counter", events[-1], "crashed before the checkpoint")
    projection = OrderedCounting()
    path = tmp_path / "counter.db"
    async with parking_runner(catalog, projection, path, letters) as (runner, _store):
        assert await runner.checkpoint.wait_for(events[-1].position, timeout=10)
        assert await letters.list() == []
        assert read_store(path)[0] == {e.position: 1 for e in events}


def test_the_park_policy_needs_somewhere_to_park(catalog: EmbeddedRuntime, tmp_path: Path) -> None:
    store = SqliteProjectionStore(tmp_path / "x.db")
    try:
        with pytest.raises(ValueError, match="dead-letter"):
            ProjectionRunner(
                OrderedCounting(), store, catalog.log_reader, catalog.head, policy=PoisonPolicy.PARK
            )
    finally:
        store.close()


class LettersOutOfReach(SqliteDeadLetters):
    """Dead letters whose store refuses connections for the first `outages` reads of the
    parked aggregates (a dead-letter table in a PostgreSQL that is restarting)."""

    def __init__(self, path: Path, outages: int) -> None:
        super().__init__(path)
        self.outages = outages

    async def parked_aggregates(self, projection: str) -> set[str]:
        if self.outages > 0:
            self.outages -= 1
            raise ConnectionRefusedError("dead-letter store unreachable")
        return await super().parked_aggregates(projection)


async def test_an_unreachable_dead_letter_store_is_waited_out(
    catalog: EmbeddedRuntime, tmp_path: Path
) -> None:
    """Found by the chaos runner: the re-read of parked aggregates, cut off by
    `pg_terminate_backend`, ended the runner instead of waiting for the store."""
    product_a, _ = await two_products(catalog, 2)
    letters = LettersOutOfReach(tmp_path / "dead-letters.db", outages=0)
    try:
        path = tmp_path / "counter.db"
        async with parking_runner(catalog, OrderedCounting(), path, letters) as (runner, _):
            head = (await catalog.log_reader.read_after(0, 1000))[-1].position
            assert await runner.checkpoint.wait_for(head, timeout=10)
            letters.outages = 3
            await asyncio.sleep(PARKED_REREAD + 0.1)  # the next batch re-reads them
            later = await adjust(catalog, product_a)
            assert await runner.checkpoint.wait_for(later, timeout=10)
            assert letters.outages == 0
            assert runner.state is ProjectionState.LIVE
            assert read_store(path)[0].get(later) == 1
    finally:
        letters.close()
