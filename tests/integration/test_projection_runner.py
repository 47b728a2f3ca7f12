"""The projection runner and read consistency, against the real catalog's event log."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from catalog.bootstrap import build_embedded
from catalog.domain import commands as c
from catalog.domain.events import ALL_EVENTS
from catalog.read_models.queries import GetProduct
from catalog.runtime.embedded import EmbeddedRuntime
from catalog.runtime.running import RunningReadModel
from catalog.settings import Settings
from tandem.errors import ProjectionFailed, ReadModelBehind
from tandem.eventlog.base import EventLogReader
from tandem.messages import Query, StoredEvent
from tandem.projections import checkpoints
from tandem.projections.base import Projection
from tandem.projections.runner import ProjectionRunner, ProjectionState, RetryPolicy
from tandem.stores.sqlite import SqliteProjectionStore

FAST_RETRY = RetryPolicy(attempts=3, first_delay=0.05, max_delay=0.1)


class Poisoned(Exception):
    pass


class CountingProjection(Projection[sqlite3.Connection]):
    """Counts how often each position was applied; optionally fails on one position."""

    name = "application_counter"
    event_types = frozenset(cls.__name__ for cls in ALL_EVENTS)

    def __init__(self, poison: int | None = None, failures: int | None = None) -> None:
        self.poison = poison
        self.failures_left = failures  # None: fail until fixed
        self.fixed = False
        self.calls: Counter[int] = Counter()

    def _still_failing(self) -> bool:
        if self.fixed:
            return False
        if self.failures_left is None:
            return True
        self.failures_left -= 1
        return self.failures_left >= 0

    def setup(self, tx: sqlite3.Connection) -> None:
        tx.execute(
            "CREATE TABLE IF NOT EXISTS applications ("
            " position INTEGER PRIMARY KEY, type TEXT NOT NULL, count INTEGER NOT NULL)"
        )

    def apply(self, tx: sqlite3.Connection, event: StoredEvent) -> None:
        self.calls[event.position] += 1
        if event.position == self.poison and self._still_failing():
            raise Poisoned(f"cannot apply position {event.position}")
        tx.execute(
            "INSERT INTO applications (position, type, count) VALUES (?, ?, 1)"
            " ON CONFLICT (position) DO UPDATE SET count = count + 1",
            (event.position, event.type),
        )


@dataclass(frozen=True, kw_only=True)
class CountApplications(Query):
    pass


def read_store(path: Path) -> tuple[dict[int, int], int]:
    """The applications per position and the stored checkpoint of a counter store."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        counts = dict(conn.execute("SELECT position, count FROM applications").fetchall())
        return counts, checkpoints.load(conn, CountingProjection.name)


async def produce(cat: EmbeddedRuntime, commands: int) -> list[int]:
    """Run `commands` commands (one event each after the first two); return all positions."""
    category_id = (await cat.command_bus.dispatch(c.CreateCategory(name="Kitchen"))).id
    product_id = (
        await cat.command_bus.dispatch(
            c.CreateProduct(sku="MUG", name="Mug", category_id=category_id, price=Decimal("1"))
        )
    ).id
    for i in range(commands):
        await cat.command_bus.dispatch(
            c.AdjustStock(product_id=product_id, delta=i + 1, reason="delivery")
        )
    return [e.position for e in await cat.log_reader.read_after(0, 10_000)]


async def adjust(cat: EmbeddedRuntime) -> int:
    """One more event in the log; returns its version."""
    events = await cat.log_reader.read_after(0, 10_000)
    product_id = next(e.aggregate_id for e in events if e.type == "ProductCreated")
    result = await cat.command_bus.dispatch(
        c.AdjustStock(product_id=product_id, delta=1, reason="delivery")
    )
    return result.version


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@pytest.fixture
async def counter_path(tmp_path: Path) -> Path:
    return tmp_path / "counter" / "counter.db"


@pytest.fixture
async def store(counter_path: Path) -> AsyncIterator[SqliteProjectionStore]:
    the_store = SqliteProjectionStore(counter_path)
    try:
        yield the_store
    finally:
        the_store.close()


def runner_for(
    cat: EmbeddedRuntime,
    projection: CountingProjection,
    store: SqliteProjectionStore,
    *,
    batch_size: int = 500,
    idle_poll: float = 60.0,
) -> ProjectionRunner:
    """A runner on the catalog's log and head that would poll only once a minute."""
    return ProjectionRunner(
        projection,
        store,
        cat.log_reader,
        cat.head,
        batch_size=batch_size,
        retry=FAST_RETRY,
        idle_poll=idle_poll,
    )


# --- catch-up and live -----------------------------------------------------------------------


async def test_catch_up_applies_every_event_exactly_once(
    catalog: EmbeddedRuntime, store: SqliteProjectionStore, counter_path: Path
) -> None:
    positions = await produce(catalog, 20)
    runner = runner_for(catalog, CountingProjection(), store, batch_size=4)

    task = asyncio.create_task(runner.run())
    try:
        assert await runner.checkpoint.wait_for(positions[-1], timeout=5)
    finally:
        await stop(task)

    counts, checkpoint = read_store(counter_path)
    assert counts == {p: 1 for p in positions}
    assert checkpoint == positions[-1]
    assert runner.events_applied == len(positions)


async def test_catch_up_resumes_after_a_stored_non_zero_checkpoint(
    catalog: EmbeddedRuntime, store: SqliteProjectionStore, counter_path: Path
) -> None:
    positions = await produce(catalog, 12)
    projection = CountingProjection()
    resume_after = positions[4]
    await store.setup(projection)
    await store.db.run(lambda conn: checkpoints.save(conn, projection.name, resume_after, 1))

    runner = runner_for(catalog, projection, store, batch_size=3)
    await runner.start()
    assert runner.checkpoint.value == resume_after
    task = asyncio.create_task(runner.run())
    try:
        assert await runner.checkpoint.wait_for(positions[-1], timeout=5)
    finally:
        await stop(task)

    counts, checkpoint = read_store(counter_path)
    assert counts == {p: 1 for p in positions if p > resume_after}
    assert checkpoint == positions[-1]
    assert min(projection.calls) > resume_after


async def test_a_redelivered_batch_has_no_second_effect(
    catalog: EmbeddedRuntime, store: SqliteProjectionStore, counter_path: Path
) -> None:
    await produce(catalog, 5)
    events = await catalog.log_reader.read_after(0, 100)
    projection = CountingProjection()
    await store.setup(projection)

    assert await store.apply(projection, events[:4]) == events[3].position
    assert await store.apply(projection, events) == events[-1].position
    assert await store.apply(projection, events) == events[-1].position

    counts, checkpoint = read_store(counter_path)
    assert counts == {e.position: 1 for e in events}
    assert checkpoint == events[-1].position


async def test_live_mode_is_woken_by_a_commit_not_by_polling(
    catalog: EmbeddedRuntime, store: SqliteProjectionStore, counter_path: Path
) -> None:
    positions = await produce(catalog, 3)
    runner = runner_for(catalog, CountingProjection(), store, idle_poll=60.0)
    task = asyncio.create_task(runner.run())
    try:
        assert await runner.checkpoint.wait_for(positions[-1], timeout=5)
        for _ in range(3):
            await asyncio.sleep(0.05)  # the runner is parked on the head again
            assert runner.state is ProjectionState.LIVE
            start = time.perf_counter()
            version = await adjust(catalog)
            assert await runner.checkpoint.wait_for(version, timeout=0.5)
            assert time.perf_counter() - start < 0.5
            positions.append(version)
    finally:
        await stop(task)

    assert runner.state is ProjectionState.STOPPED
    counts, checkpoint = read_store(counter_path)
    assert counts == {p: 1 for p in positions}
    assert checkpoint == positions[-1]


async def test_concurrent_commands_are_each_applied_once(
    catalog: EmbeddedRuntime, store: SqliteProjectionStore, counter_path: Path
) -> None:
    await produce(catalog, 1)
    runner = runner_for(catalog, CountingProjection(), store, batch_size=7)
    task = asyncio.create_task(runner.run())
    try:
        versions = await asyncio.gather(*(adjust(catalog) for _ in range(30)))
        assert await runner.checkpoint.wait_for(max(versions), timeout=5)
    finally:
        await stop(task)
    positions = [e.position for e in await catalog.log_reader.read_after(0, 1000)]
    counts, _ = read_store(counter_path)
    assert counts == {p: 1 for p in positions}


# --- poison events ---------------------------------------------------------------------------


async def test_a_transient_failure_is_retried_and_nothing_is_skipped(
    catalog: EmbeddedRuntime, store: SqliteProjectionStore, counter_path: Path
) -> None:
    positions = await produce(catalog, 6)
    projection = CountingProjection(poison=positions[4], failures=2)
    runner = runner_for(catalog, projection, store)
    task = asyncio.create_task(runner.run())
    try:
        assert await runner.checkpoint.wait_for(positions[-1], timeout=5)
    finally:
        await stop(task)
    assert runner.state is not ProjectionState.FAILED
    assert runner.error is None
    counts, _ = read_store(counter_path)
    assert counts == {p: 1 for p in positions}
    assert projection.calls[positions[4]] == 3


async def test_a_poison_event_stops_the_runner_in_failed_state_at_the_event_before(
    catalog: EmbeddedRuntime, store: SqliteProjectionStore, counter_path: Path, tmp_path: Path
) -> None:
    positions = await produce(catalog, 8)
    poison = positions[5]
    before_poison = positions[4]
    projection = CountingProjection(poison=poison)
    runner = runner_for(catalog, projection, store)

    # A healthy projection beside it is not held up.
    healthy_store = SqliteProjectionStore(tmp_path / "healthy.db")
    healthy = runner_for(catalog, CountingProjection(), healthy_store)
    healthy_task = asyncio.create_task(healthy.run())
    try:
        start = time.perf_counter()
        await asyncio.wait_for(runner.run(), timeout=5)  # returns once it gives up
        elapsed = time.perf_counter() - start
        assert await healthy.checkpoint.wait_for(positions[-1], timeout=5)
    finally:
        await stop(healthy_task)
        healthy_store.close()

    assert runner.state is ProjectionState.FAILED
    assert runner.checkpoint.value == before_poison
    assert runner.failed_position == poison
    assert runner.error is not None and "Poisoned" in runner.error
    # One try of the whole batch, then every attempt of the single event, with backoff.
    assert projection.calls[poison] == 1 + FAST_RETRY.attempts
    assert elapsed >= 0.9 * (FAST_RETRY.delay(0) + FAST_RETRY.delay(1))
    counts, checkpoint = read_store(counter_path)
    assert counts == {p: 1 for p in positions if p < poison}
    assert checkpoint == before_poison
    assert healthy.state is not ProjectionState.FAILED


async def test_after_a_fix_a_new_runner_resumes_from_the_checkpoint(
    catalog: EmbeddedRuntime, counter_path: Path
) -> None:
    positions = await produce(catalog, 8)
    poison = positions[3]
    projection = CountingProjection(poison=poison)
    first_store = SqliteProjectionStore(counter_path)
    try:
        failed = runner_for(catalog, projection, first_store)
        await asyncio.wait_for(failed.run(), timeout=5)
        assert failed.state is ProjectionState.FAILED
    finally:
        first_store.close()
    before = Counter(projection.calls)

    projection.fixed = True
    positions.append(await adjust(catalog))  # the log moved on meanwhile
    second_store = SqliteProjectionStore(counter_path)
    try:
        resumed = runner_for(catalog, projection, second_store)
        await resumed.start()
        assert resumed.checkpoint.value == positions[2]
        task = asyncio.create_task(resumed.run())
        try:
            assert await resumed.checkpoint.wait_for(positions[-1], timeout=5)
            positions.append(await adjust(catalog))  # and it follows live afterwards
            assert await resumed.checkpoint.wait_for(positions[-1], timeout=5)
        finally:
            await stop(task)
    finally:
        second_store.close()

    counts, checkpoint = read_store(counter_path)
    assert counts == {p: 1 for p in positions}
    assert checkpoint == positions[-1]
    resumed_calls = projection.calls - before
    assert set(resumed_calls) == {p for p in positions if p >= poison}
    assert resumed.state is not ProjectionState.FAILED


async def test_queries_beyond_a_failed_projection_fail_through_the_catalog(
    catalog: EmbeddedRuntime, counter_path: Path
) -> None:
    positions = await produce(catalog, 5)
    poison = positions[3]
    store = SqliteProjectionStore(counter_path)
    runner = runner_for(catalog, CountingProjection(poison=poison), store)
    catalog.read_models[runner.name] = RunningReadModel(runner, "sqlite", [store.close])

    async def count(_query: CountApplications) -> int:
        def read(conn: sqlite3.Connection) -> int:
            return int(conn.execute("SELECT count(*) FROM applications").fetchone()[0])

        return await store.reader.run(read)

    catalog.query_bus.register(CountApplications, count, read_model=runner.name)
    await asyncio.wait_for(runner.run(), timeout=5)
    assert runner.state is ProjectionState.FAILED

    with pytest.raises((ProjectionFailed, ReadModelBehind)):
        await catalog.query_bus.ask(CountApplications(), min_version=poison, timeout=0.2)
    with pytest.raises((ProjectionFailed, ReadModelBehind)):
        await catalog.query_bus.ask(CountApplications(), min_version=positions[-1], timeout=0.2)

    # What it has applied can still be read, and says which version it reflects.
    result = await catalog.query_bus.ask(CountApplications(), min_version=positions[2])
    assert (result.value, result.read_version) == (3, positions[2])
    status = {s["name"]: s for s in catalog.status()}[runner.name]
    assert (status["state"], status["checkpoint"]) == ("failed", positions[2])


# --- the consistency middleware ----------------------------------------------------------------


@pytest.fixture
async def async_catalog(tmp_path: Path) -> AsyncIterator[EmbeddedRuntime]:
    """A catalog whose product detail is asynchronous and whose runners are not started."""
    cat = build_embedded(Settings(data_dir=tmp_path / "async", modes={"product_detail": "async"}))
    await cat.start(projections=False)
    try:
        yield cat
    finally:
        await cat.stop()
        cat.close()


async def create_product(cat: EmbeddedRuntime) -> tuple[str, int]:
    category_id = (await cat.command_bus.dispatch(c.CreateCategory(name="Kitchen"))).id
    result = await cat.command_bus.dispatch(
        c.CreateProduct(
            sku=f"SKU-{uuid.uuid4().hex[:6]}",
            name="Mug",
            category_id=category_id,
            price=Decimal("4.20"),
            initial_stock=3,
        )
    )
    return result.id, result.version


def product_detail_runner(cat: EmbeddedRuntime) -> ProjectionRunner:
    tracked = cat.read_models["product_detail"].tracked
    assert isinstance(tracked, ProjectionRunner)
    return tracked


async def test_a_read_model_that_cannot_reach_the_version_answers_read_model_behind(
    async_catalog: EmbeddedRuntime,
) -> None:
    product_id, version = await create_product(async_catalog)
    start = time.perf_counter()
    with pytest.raises(ReadModelBehind) as err:
        await async_catalog.query_bus.ask(
            GetProduct(product_id=product_id), min_version=version, timeout=0.2
        )
    elapsed = time.perf_counter() - start
    assert 0.15 <= elapsed < 2.0
    assert (err.value.projection, err.value.wanted, err.value.checkpoint) == (
        "product_detail",
        version,
        0,
    )


async def test_a_query_returns_once_its_read_model_reaches_the_version(
    async_catalog: EmbeddedRuntime,
) -> None:
    product_id, version = await create_product(async_catalog)
    query = GetProduct(product_id=product_id)
    waiting = asyncio.create_task(
        async_catalog.query_bus.ask(query, min_version=version, timeout=5)
    )
    await asyncio.sleep(0.1)
    assert not waiting.done()

    task = asyncio.create_task(product_detail_runner(async_catalog).run())
    try:
        result = await asyncio.wait_for(waiting, timeout=5)
        assert result.read_version >= version
        assert result.value["id"] == product_id
        again = await async_catalog.query_bus.ask(query, min_version=version, timeout=0.2)
        assert again.read_version >= version
    finally:
        await stop(task)


async def test_without_a_minimum_the_query_answers_at_once_with_its_version(
    async_catalog: EmbeddedRuntime,
) -> None:
    product_id, version = await create_product(async_catalog)
    runner = product_detail_runner(async_catalog)
    task = asyncio.create_task(runner.run())
    try:
        assert await runner.checkpoint.wait_for(version, timeout=5)
    finally:
        await stop(task)
    newer = (
        await async_catalog.command_bus.dispatch(
            c.ChangePrice(product_id=product_id, price=Decimal("5"))
        )
    ).version

    result = await async_catalog.query_bus.ask(GetProduct(product_id=product_id))
    assert result.read_version == version < newer
    with pytest.raises(ReadModelBehind):
        await async_catalog.query_bus.ask(
            GetProduct(product_id=product_id), min_version=newer, timeout=0.05
        )


async def test_a_sync_read_model_is_at_the_commands_version_at_once(
    catalog: EmbeddedRuntime,
) -> None:
    product_id, version = await create_product(catalog)
    result = await catalog.query_bus.ask(
        GetProduct(product_id=product_id), min_version=version, timeout=0.01
    )
    assert result.read_version >= version
    assert result.value["id"] == product_id


class FlakyLogReader:
    """The real log reader, except that its first `failures` reads raise."""

    def __init__(self, inner: EventLogReader, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    async def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        if self.failures > 0:
            self.failures -= 1
            raise sqlite3.OperationalError("database is locked")
        return await self.inner.read_after(position, limit)

    async def head(self) -> int:
        return await self.inner.head()


async def test_the_runner_survives_a_failed_log_read(
    catalog: EmbeddedRuntime, store: SqliteProjectionStore, counter_path: Path
) -> None:
    positions = await produce(catalog, 3)
    reader = FlakyLogReader(catalog.log_reader, failures=1)
    runner = ProjectionRunner(
        CountingProjection(), store, reader, catalog.head, retry=FAST_RETRY, idle_poll=60.0
    )
    task = asyncio.create_task(runner.run())
    waiter = asyncio.create_task(runner.checkpoint.wait_for(positions[-1], timeout=5))
    try:
        done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()  # the runner ended: surface how
        assert waiter.result()
    finally:
        waiter.cancel()
        await stop(task)
    counts, _ = read_store(counter_path)
    assert counts == {p: 1 for p in positions}
