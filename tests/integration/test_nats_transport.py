"""The NATS JetStream transport: relay (log → stream) and reader (stream → projection).

Every test runs against the machine's real NATS server on streams named by
`nats_names()` and deletes them afterwards; the SIGKILL test starts its own server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError
from tests.support.services import NATS_URL, nats_names

from catalog.domain import commands as c
from catalog.domain.events import ALL_EVENTS
from catalog.read_models.category_stats.sqlite import CategoryStatsProjection
from catalog.read_models.sqlite_scopes import TABLE_SUFFIXES
from catalog.runtime.embedded import EmbeddedRuntime
from tandem.consistency import VersionWatch
from tandem.eventlog.sqlite import SqliteEventLogReader, create_schema
from tandem.messages import StoredEvent
from tandem.projections.base import Projection
from tandem.projections.runner import ProjectionRunner, ProjectionState, RetryPolicy
from tandem.stores.sqlite import SqliteProjectionStore
from tandem.transport import wire
from tandem.transport.nats.reader import NatsEventReader
from tandem.transport.nats.relay import NatsRelay
from tandem.transport.nats.stream import ensure_stream

pytestmark = pytest.mark.services

FAST_RETRY = RetryPolicy(attempts=3, first_delay=0.05, max_delay=0.1)


# --- fixtures and helpers --------------------------------------------------------------------


@dataclass(frozen=True)
class Names:
    """One test's stream and subject prefix, unique on the shared server."""

    stream: str
    prefix: str


@pytest.fixture
async def names() -> AsyncIterator[Names]:
    stream = nats_names()
    yield Names(stream, stream.lower())
    nc = await nats.connect(NATS_URL)
    try:
        with contextlib.suppress(NotFoundError):
            await nc.jsm().delete_stream(stream)
    finally:
        await nc.close()


@pytest.fixture
async def nc(names: Names) -> AsyncIterator[Client]:
    """A connection to the shared server (after `names` skipped the test if it is down)."""
    client = await nats.connect(NATS_URL)
    try:
        yield client
    finally:
        await client.close()


class SparseLog:
    """A SQLite event log written directly, with positions far from dense."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        create_schema(self.conn)
        self.head = VersionWatch(0)
        self.reader = SqliteEventLogReader(path, inline=True)

    def append(self, count: int) -> list[int]:
        """`count` more events at random strides; returns their positions."""
        positions = []
        position = self.head.value
        self.conn.execute("BEGIN IMMEDIATE")
        for _ in range(count):
            position += random.randint(1, 50)
            positions.append(position)
            kind = random.choice(["tick", "tock"])
            self.conn.execute(
                "INSERT INTO tandem_events (position, type, schema_version, aggregate_type,"
                " aggregate_id, aggregate_version, recorded_at, correlation_id, causation_id,"
                " data) VALUES (?, 'Ticked', 1, ?, ?, ?, ?, 'c', 'c', ?)",
                (position, kind, f"{kind}-{position}", 1, time.time(), f'{{"n": {position}}}'),
            )
        self.conn.execute("COMMIT")
        self.head.advance(position)
        return positions

    async def events(self) -> list[StoredEvent]:
        return await self.reader.read_after(0, 1_000_000)

    def close(self) -> None:
        self.reader.close()
        self.conn.close()


@pytest.fixture
def sparse_log(tmp_path: Path) -> Iterator[SparseLog]:
    log = SparseLog(tmp_path / "log.db")
    try:
        yield log
    finally:
        log.close()


class RecordingProjection(Projection[sqlite3.Connection]):
    """Records every applied event with a count: the fold that must equal the log."""

    name = "recording"
    event_types = frozenset({"Ticked", *(cls.__name__ for cls in ALL_EVENTS)})

    def setup(self, tx: sqlite3.Connection) -> None:
        tx.execute(
            "CREATE TABLE IF NOT EXISTS recorded (position INTEGER PRIMARY KEY,"
            " type TEXT NOT NULL, aggregate_id TEXT NOT NULL, data TEXT NOT NULL,"
            " count INTEGER NOT NULL)"
        )

    def apply(self, tx: sqlite3.Connection, event: StoredEvent) -> None:
        tx.execute(
            "INSERT INTO recorded VALUES (?, ?, ?, ?, 1)"
            " ON CONFLICT (position) DO UPDATE SET count = count + 1",
            (event.position, event.type, event.aggregate_id, wire.encode(event).decode()),
        )


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of a SQLite store except the checkpoints, sorted: a store's content."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        tables = [
            row[0]
            for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if row[0] != "tandem_checkpoints"
            and not row[0].startswith("sqlite_")
            and not row[0].endswith(TABLE_SUFFIXES)  # batch records, cut by batch
        ]
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in tables}


def expected_recording(events: Sequence[StoredEvent]) -> list[tuple[Any, ...]]:
    return [(e.position, e.type, e.aggregate_id, wire.encode(e).decode(), 1) for e in events]


async def stream_messages(nc: Client, stream: str) -> list[RawStreamMsg]:
    """Every message stored in the stream, in stream order."""
    jsm = nc.jsm()
    state = (await jsm.stream_info(stream)).state
    return [await jsm.get_msg(stream, seq) for seq in range(state.first_seq, state.last_seq + 1)]


def assert_stream_is_the_log(
    messages: Sequence[RawStreamMsg], events: Sequence[StoredEvent], prefix: str
) -> None:
    """The stream holds each log event once, in order, with an unbroken header chain."""
    assert [wire.header_position(m.headers, wire.POSITION) for m in messages] == [
        e.position for e in events
    ]
    previous = 0
    for message, event in zip(messages, events, strict=True):
        assert message.headers is not None
        assert message.headers[wire.MSG_ID] == str(event.position)
        assert message.headers[wire.PREVIOUS] == str(previous)
        assert message.subject == f"{prefix}.{event.aggregate_type}"
        assert message.data is not None
        assert wire.decode(message.data) == event
        previous = event.position


async def relay_until(relay: NatsRelay, position: int, timeout: float = 20.0) -> None:
    assert await relay.position.wait_for(position, timeout=timeout), (
        f"relay stuck at {relay.position.value}, wanted {position}: {relay.error}"
    )


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@contextlib.asynccontextmanager
async def running(*coroutines: Any) -> AsyncIterator[list[asyncio.Task[None]]]:
    tasks = [asyncio.create_task(coro) for coro in coroutines]
    try:
        yield tasks
    finally:
        for task in tasks:
            await stop(task)


async def shop(cat: EmbeddedRuntime, products: int) -> int:
    """A small but varied history: categories, products, prices, stock, a move, a
    discontinuation. Returns the log head."""
    bus = cat.command_bus
    root = (await bus.dispatch(c.CreateCategory(name="Home"))).id
    kitchen = (await bus.dispatch(c.CreateCategory(name="Kitchen", parent_id=root))).id
    garden = (await bus.dispatch(c.CreateCategory(name="Garden", parent_id=root))).id
    ids = []
    for i in range(products):
        category = kitchen if i % 2 else garden
        product = c.CreateProduct(
            sku=f"SKU-{i}-{random.randrange(10**9)}",
            name=f"Thing {i}",
            category_id=category,
            price=Decimal(f"{i + 1}.50"),
            initial_stock=i % 3,
        )
        ids.append((await bus.dispatch(product)).id)
    for i, product_id in enumerate(ids):
        await bus.dispatch(c.ChangePrice(product_id=product_id, price=Decimal(f"{i + 2}.25")))
        await bus.dispatch(c.AdjustStock(product_id=product_id, delta=5, reason="delivery"))
    await bus.dispatch(c.UpdateProductDetails(product_id=ids[0], category_id=kitchen))
    await bus.dispatch(c.DiscontinueProduct(product_id=ids[-1]))
    return cat.head.value


def nats_runner(
    projection: Projection[sqlite3.Connection],
    store: SqliteProjectionStore,
    reader: NatsEventReader,
) -> ProjectionRunner:
    return ProjectionRunner(
        projection,
        store,
        reader,
        reader.arrivals,
        batch_size=100,
        max_batch_size=100,  # as the services runtime runs them on the stream
        retry=FAST_RETRY,
    )


# --- the relay -------------------------------------------------------------------------------


async def test_relay_publishes_the_catalog_log_in_order_with_chain_headers(
    catalog: EmbeddedRuntime, nc: Client, names: Names
) -> None:
    head = await shop(catalog, 10)
    relay = NatsRelay(
        catalog.log_reader,
        nc,
        catalog.head,
        stream=names.stream,
        subject_prefix=names.prefix,
        batch_size=7,
    )
    async with running(relay.run()):
        await relay_until(relay, head)
        later = await shop(catalog, 2)
        await relay_until(relay, later)

    events = await catalog.log_reader.read_after(0, 10_000)
    assert_stream_is_the_log(await stream_messages(nc, names.stream), events, names.prefix)
    assert relay.published == len(events)
    assert relay.duplicates == relay.conflicts == 0


async def test_relay_resumes_from_the_streams_last_message(
    sparse_log: SparseLog, nc: Client, names: Names
) -> None:
    sparse_log.append(300)
    first = NatsRelay(
        sparse_log.reader, nc, sparse_log.head, stream=names.stream, subject_prefix=names.prefix
    )
    assert await first.relay_available() == 300
    sparse_log.append(200)

    second = NatsRelay(
        sparse_log.reader, nc, sparse_log.head, stream=names.stream, subject_prefix=names.prefix
    )
    assert await second.relay_available() == 200
    assert await second.relay_available() == 0
    assert second.published == 200 and second.duplicates == 0

    events = await sparse_log.events()
    assert_stream_is_the_log(await stream_messages(nc, names.stream), events, names.prefix)


@pytest.mark.parametrize("duplicate_window", [120.0, 0.1], ids=["dedup", "no-dedup"])
async def test_racing_relays_publish_each_position_once_in_order(
    sparse_log: SparseLog, nc: Client, names: Names, duplicate_window: float
) -> None:
    """With a 100 ms duplicate window (the server's least) dedup barely helps: the
    conditional publishes alone keep the stream exact."""
    await ensure_stream(nc.jsm(), names.stream, names.prefix, duplicate_window=duplicate_window)
    sparse_log.append(500)
    clients = [await nats.connect(NATS_URL) for _ in range(3)]
    relays = [
        NatsRelay(
            sparse_log.reader,
            client,
            sparse_log.head,
            stream=names.stream,
            subject_prefix=names.prefix,
            batch_size=size,
            idle_poll=0.05,
        )
        for client, size in zip(clients, [50, 137, 500], strict=True)
    ]
    try:
        async with running(*(relay.run() for relay in relays)):
            for _ in range(10):
                sparse_log.append(random.randint(50, 400))
                await asyncio.sleep(random.uniform(0, 0.03))
            for relay in relays:
                await relay_until(relay, sparse_log.head.value)
    finally:
        for client in clients:
            await client.close()

    events = await sparse_log.events()
    assert_stream_is_the_log(await stream_messages(nc, names.stream), events, names.prefix)
    assert sum(relay.published for relay in relays) == len(events)
    print(
        "racing relays: published",
        [r.published for r in relays],
        "duplicates",
        [r.duplicates for r in relays],
        "conflicts",
        [r.conflicts for r in relays],
    )


async def test_a_stale_relay_is_refused_not_duplicated(
    sparse_log: SparseLog, nc: Client, names: Names
) -> None:
    """A relay that fell asleep past the duplicate window cannot append its old batch:
    the stream's end moved, so the conditional publish is refused and it resyncs."""
    await ensure_stream(nc.jsm(), names.stream, names.prefix, duplicate_window=0.1)
    sparse_log.append(100)
    stale = NatsRelay(
        sparse_log.reader,
        nc,
        sparse_log.head,
        stream=names.stream,
        subject_prefix=names.prefix,
        batch_size=50,
    )
    awake = NatsRelay(
        sparse_log.reader,
        nc,
        sparse_log.head,
        stream=names.stream,
        subject_prefix=names.prefix,
        batch_size=50,
    )
    assert await stale.relay_available() == 50
    assert await awake.relay_available() == 50  # positions 51-100, after the stale mark
    await asyncio.sleep(0.3)  # the duplicate window passes: dedup cannot save us

    await stale.relay_available()  # would republish 51-100 without the condition
    assert stale.conflicts == 1 and stale.published == 50 and stale.duplicates == 0
    sparse_log.append(10)
    assert await stale.relay_available() == 10
    assert_stream_is_the_log(
        await stream_messages(nc, names.stream), await sparse_log.events(), names.prefix
    )


async def test_a_relay_cancelled_at_random_points_leaves_no_duplicates_or_gaps(
    sparse_log: SparseLog, nc: Client, names: Names
) -> None:
    await ensure_stream(nc.jsm(), names.stream, names.prefix, duplicate_window=0.1)
    sparse_log.append(3000)
    rng = random.Random(7)
    for _ in range(25):
        client = await nats.connect(NATS_URL)
        relay = NatsRelay(
            sparse_log.reader,
            client,
            sparse_log.head,
            stream=names.stream,
            subject_prefix=names.prefix,
            batch_size=rng.choice([10, 100, 400]),
        )
        task = asyncio.create_task(relay.run())
        await asyncio.sleep(rng.uniform(0, 0.02))
        await stop(task)
        # Drop the connection like a crash would, leaving in-flight publishes behind.
        await client.close()
        if rng.random() < 0.3:
            sparse_log.append(rng.randint(1, 200))

    final = NatsRelay(
        sparse_log.reader, nc, sparse_log.head, stream=names.stream, subject_prefix=names.prefix
    )
    async with running(final.run()):
        await relay_until(final, sparse_log.head.value)

    events = await sparse_log.events()
    assert_stream_is_the_log(await stream_messages(nc, names.stream), events, names.prefix)


async def test_relay_steps_over_garbage_at_the_streams_end(
    sparse_log: SparseLog, nc: Client, names: Names
) -> None:
    sparse_log.append(20)
    relay = NatsRelay(
        sparse_log.reader, nc, sparse_log.head, stream=names.stream, subject_prefix=names.prefix
    )
    await relay.relay_available()
    js = nc.jetstream()
    await js.publish(f"{names.prefix}.tick", b"not an event")
    await js.publish(f"{names.prefix}.tock", b"{}", headers={wire.POSITION: "oops"})
    sparse_log.append(20)

    # The relay's conditional publish is refused (the stream moved) and it re-reads the
    # end, stepping over both messages to the last relayed one; a fresh relay does too.
    assert await relay.relay_available() == 20
    assert relay.conflicts == 1
    assert await relay.relay_available() == 20
    sparse_log.append(5)
    assert (
        await NatsRelay(
            sparse_log.reader, nc, sparse_log.head, stream=names.stream, subject_prefix=names.prefix
        ).relay_available()
        == 5
    )

    messages = await stream_messages(nc, names.stream)
    relayed = [m for m in messages if wire.header_position(m.headers, wire.POSITION)]
    assert_stream_is_the_log(relayed, await sparse_log.events(), names.prefix)
    assert len(messages) == len(relayed) + 2


async def test_relay_throughput(sparse_log: SparseLog, nc: Client, names: Names) -> None:
    sparse_log.append(40_000)
    relay = NatsRelay(
        sparse_log.reader, nc, sparse_log.head, stream=names.stream, subject_prefix=names.prefix
    )
    untimed = await relay.relay_available()  # creates the stream and warms up
    start = time.perf_counter()
    while await relay.relay_available():
        pass
    elapsed = time.perf_counter() - start
    assert relay.position.value == sparse_log.head.value
    print(f"relay: {(relay.published - untimed) / elapsed:,.0f} events/s")


# --- the reader under a projection runner ----------------------------------------------------


async def test_runner_on_the_nats_reader_equals_folding_the_log(
    catalog: EmbeddedRuntime, nc: Client, names: Names, tmp_path: Path
) -> None:
    await shop(catalog, 20)
    relay = NatsRelay(
        catalog.log_reader, nc, catalog.head, stream=names.stream, subject_prefix=names.prefix
    )
    projections = [CategoryStatsProjection(), RecordingProjection()]
    stores = [SqliteProjectionStore(tmp_path / f"nats-{p.name}.db") for p in projections]
    readers = [
        NatsEventReader(
            nc,
            stream=names.stream,
            subject_prefix=names.prefix,
            durable=f"w_{p.name}",
            fallback=catalog.log_reader,
        )
        for p in projections
    ]
    direct_store = SqliteProjectionStore(tmp_path / "direct.db")
    direct = ProjectionRunner(
        CategoryStatsProjection(), direct_store, catalog.log_reader, catalog.head
    )
    for reader in readers:
        await reader.start()
    runners = [nats_runner(p, s, r) for p, s, r in zip(projections, stores, readers, strict=True)]
    try:
        async with running(relay.run(), direct.run(), *(r.run() for r in runners)):
            head = await shop(catalog, 15)  # live, while everything runs
            for runner in [*runners, direct]:
                assert await runner.checkpoint.wait_for(head, timeout=20), runner.error
            assert all(r.state is ProjectionState.LIVE for r in runners)
    finally:
        for reader in readers:
            await reader.close()
        for store in [*stores, direct_store]:
            store.close()

    assert dump(tmp_path / "nats-category_stats.db") == dump(tmp_path / "direct.db")
    events = await catalog.log_reader.read_after(0, 10_000)
    assert dump(tmp_path / "nats-recording.db")["recorded"] == expected_recording(events)
    # Everything arrived over the stream: the log was never needed.
    assert [r.fallback_events for r in readers] == [0, 0]
    assert [r.garbage for r in readers] == [0, 0]


async def test_a_wiped_store_catches_up_through_the_log(
    sparse_log: SparseLog, nc: Client, names: Names, tmp_path: Path
) -> None:
    sparse_log.append(1000)
    relay = NatsRelay(
        sparse_log.reader, nc, sparse_log.head, stream=names.stream, subject_prefix=names.prefix
    )

    async def fold(store_path: Path) -> NatsEventReader:
        reader = NatsEventReader(
            nc,
            stream=names.stream,
            subject_prefix=names.prefix,
            durable="recorder",
            fallback=sparse_log.reader,
        )
        await reader.start()
        store = SqliteProjectionStore(store_path)
        runner = nats_runner(RecordingProjection(), store, reader)
        try:
            async with running(runner.run()):
                assert await runner.checkpoint.wait_for(sparse_log.head.value, timeout=20)
        finally:
            await reader.close()
            store.close()
        return reader

    async with running(relay.run()):
        first = await fold(tmp_path / "first.db")
        assert first.fallback_events == 0
        info = await nc.jsm().consumer_info(names.stream, "recorder")
        assert info.ack_floor is not None and info.ack_floor.stream_seq >= 900

        # The read store is lost; the consumer's ack floor stays high. The reader must
        # replay the acked part from the log, then carry on from the stream.
        sparse_log.append(300)
        await relay_until(relay, sparse_log.head.value)
        second = await fold(tmp_path / "wiped.db")

    events = await sparse_log.events()
    assert dump(tmp_path / "wiped.db")["recorded"] == expected_recording(events)
    assert 900 <= second.fallback_events < len(events)


async def test_garbage_and_damaged_messages_do_not_crash_the_reader(
    sparse_log: SparseLog, nc: Client, names: Names, tmp_path: Path
) -> None:
    sparse_log.append(50)
    relay = NatsRelay(
        sparse_log.reader,
        nc,
        sparse_log.head,
        stream=names.stream,
        subject_prefix=names.prefix,
        batch_size=10,
    )
    for _ in range(5):
        await relay.relay_available()
    js = nc.jetstream()
    subject = f"{names.prefix}.tick"
    await js.publish(subject, b"\x00\xff garbage")
    await js.publish(subject, b'{"position": 1')
    await js.publish(subject, b"[]", headers={wire.POSITION: "12", wire.PREVIOUS: "x"})

    # A damaged copy of the next event, published where the relay would put it: its
    # chain headers are right, its body is cut short. The relay's own publish of it is
    # then a duplicate, so the stream never holds that event intact.
    sparse_log.append(30)
    events = await sparse_log.reader.read_after(relay.position.value, 1)
    damaged = events[0]
    await js.publish(
        f"{names.prefix}.{damaged.aggregate_type}",
        wire.encode(damaged)[:-9],
        headers=wire.chain_headers(damaged.position, relay.position.value),
    )
    while await relay.relay_available():
        pass
    assert relay.duplicates == 1

    reader = NatsEventReader(
        nc,
        stream=names.stream,
        subject_prefix=names.prefix,
        durable="recorder",
        fallback=sparse_log.reader,
    )
    store = SqliteProjectionStore(tmp_path / "store.db")
    await reader.start()
    runner = nats_runner(RecordingProjection(), store, reader)
    try:
        async with running(runner.run()):
            assert await runner.checkpoint.wait_for(sparse_log.head.value, timeout=20)
            assert runner.state is ProjectionState.LIVE
    finally:
        await reader.close()
        store.close()

    assert dump(tmp_path / "store.db")["recorded"] == expected_recording(await sparse_log.events())
    assert reader.garbage == 4
    assert reader.fallback_events == 1  # only the damaged event came from the log


# --- a relay process killed mid-stream -------------------------------------------------------

SRC = str(Path(__file__).resolve().parents[2] / "src")
RELAY_SCRIPT = """
import asyncio, sys
import nats
from tandem.consistency import VersionWatch
from tandem.eventlog.sqlite import SqliteEventLogReader
from tandem.transport.nats.relay import NatsRelay

async def main(url, path, stream):
    nc = await nats.connect(url)
    reader = SqliteEventLogReader(path, inline=True)
    relay = NatsRelay(reader, nc, VersionWatch(0), stream=stream,
                      subject_prefix=stream.lower(), batch_size=200, idle_poll=0.01)
    await relay.run()

asyncio.run(main(*sys.argv[1:]))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[str]:
    """A private nats-server with JetStream, for tests that kill processes."""
    port = free_port()
    server = subprocess.Popen(
        [
            "/usr/sbin/nats-server",
            "-a",
            "127.0.0.1",
            "-p",
            str(port),
            "-js",
            "-sd",
            str(tmp_path / "nats"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            assert time.monotonic() < deadline, "nats-server did not start"
            time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


@pytest.mark.chaos
async def test_a_relay_process_killed_mid_stream_leaves_no_duplicates_or_gaps(
    sparse_log: SparseLog, own_nats: str
) -> None:
    stream = "TANDEM_KILLED"
    sparse_log.append(20_000)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    client = await nats.connect(own_nats)
    try:
        # A 100 ms duplicate window: only the conditional publishes keep the stream exact.
        await ensure_stream(client.jsm(), stream, stream.lower(), duplicate_window=0.1)
        for round_ in range(6):
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                RELAY_SCRIPT,
                own_nats,
                str(sparse_log.path),
                stream,
                env=env,
            )
            await asyncio.sleep(random.uniform(0.4, 1.0))
            process.send_signal(signal.SIGKILL)
            await process.wait()
            if round_ % 2:
                sparse_log.append(2000)
        survivor = NatsRelay(
            sparse_log.reader,
            client,
            sparse_log.head,
            stream=stream,
            subject_prefix=stream.lower(),
        )
        while await survivor.relay_available():
            pass
        events = await sparse_log.events()
        messages = await stream_messages(client, stream)
        assert_stream_is_the_log(messages, events, stream.lower())
    finally:
        await client.close()
