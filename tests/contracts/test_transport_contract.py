"""The transport contract against every transport: in-process, PostgreSQL, NATS JetStream."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tandem.consistency import VersionWatch
from tandem.db.postgres import Pool, create_pool
from tandem.db.postgres.notify import Listener
from tandem.eventlog import postgres as pg_log
from tandem.eventlog import sqlite as sqlite_log
from tandem.eventlog.base import NewEvent
from tandem.messages import Metadata, StoredEvent
from tandem.migrations import migrate
from tandem.testing.transports import (
    MemoryStore,
    Source,
    TransportContract,
    reach,
    recorded,
    running,
)
from tests.support.nats_cluster import (
    NatsCluster,
    relayed_positions,
    relayed_through,
    replica_current,
    step_down,
    stream_leader,
)
from tests.support.services import NATS_URL, PostgresDatabase, nats_names

META = Metadata("contract", "contract")


async def _cancel(tasks: Sequence[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


class InProcessBackend:
    """The embedded profile's transport: the SQLite log and a head advanced by commits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        sqlite_log.create_schema(self.conn)
        self.head = VersionWatch(0)

    async def append(self, events: Sequence[NewEvent]) -> list[StoredEvent]:
        self.conn.execute("BEGIN IMMEDIATE")
        stored = sqlite_log.append(self.conn, events, META)
        self.conn.execute("COMMIT")
        self.head.advance(stored[-1].position)
        return stored

    async def open_source(self, consumer: str) -> Source:
        reader = sqlite_log.SqliteEventLogReader(self.path)

        async def close() -> None:
            reader.close()

        return Source(reader, self.head, close)

    def close(self) -> None:
        self.conn.close()


class PostgresBackend:
    """The direct PostgreSQL transport: the log read under the horizon, woken by
    `NOTIFY tandem_events` from a commit announcer, each source with its own listener."""

    def __init__(self, url: str, pool: Pool) -> None:
        self.url = url
        self.pool = pool
        self.announcer = pg_log.CommitAnnouncer(pool)
        self.tasks = [asyncio.create_task(self.announcer.run())]

    async def append(self, events: Sequence[NewEvent]) -> list[StoredEvent]:
        async with self.pool.acquire() as conn, conn.transaction():
            stored = await pg_log.append(conn, events, META)
        self.announcer.committed(stored[-1].position)
        return stored

    async def follow(self) -> tuple[pg_log.PostgresEventLog, VersionWatch, list[asyncio.Task[Any]]]:
        """A log reader and a visible head kept current by notifications."""
        log = pg_log.PostgresEventLog(self.pool)
        head = VersionWatch(await log.head())
        visible = pg_log.VisibleHead(log, head)
        listener = Listener(self.url, resync_interval=30)
        listener.on(pg_log.NOTIFY_CHANNEL, visible.notified)
        tasks = [asyncio.create_task(listener.run()), asyncio.create_task(visible.run())]
        await asyncio.wait_for(listener.connected.wait(), 10)
        return log, head, tasks

    async def open_source(self, consumer: str) -> Source:
        log, head, tasks = await self.follow()

        async def close() -> None:
            await _cancel(tasks)

        return Source(log, head, close)

    async def close(self) -> None:
        await _cancel(self.tasks)


class NatsBackend(PostgresBackend):
    """JetStream: a relay publishes the PostgreSQL log; each consumer is a durable one,
    stream and consumers kept by `replicas` servers."""

    def __init__(self, url: str, pool: Pool, nc: Any, stream: str, replicas: int = 1) -> None:
        super().__init__(url, pool)
        self.nc = nc
        self.stream = stream
        self.subjects = f"tandem.{stream.lower()}"
        self.replicas = replicas

    async def start_relay(self) -> None:
        from tandem.transport.nats.relay import NatsRelay

        log, head, tasks = await self.follow()
        relay = NatsRelay(
            log,
            self.nc,
            head,
            stream=self.stream,
            subject_prefix=self.subjects,
            replicas=self.replicas,
        )
        self.tasks += [*tasks, asyncio.create_task(relay.run())]

    async def open_source(self, consumer: str) -> Source:
        from tandem.transport.nats.reader import NatsEventReader

        reader = NatsEventReader(
            self.nc,
            stream=self.stream,
            subject_prefix=self.subjects,
            durable=f"{self.stream}_{consumer}",
            fallback=pg_log.PostgresEventLog(self.pool),
            replicas=self.replicas,
        )
        await reader.start()
        return Source(reader, reader.arrivals, reader.close)


@pytest.fixture
async def pg_pool(pg_database: PostgresDatabase) -> AsyncIterator[Pool]:
    pool = await create_pool(pg_database.url, min_size=1, max_size=8)
    async with pool.acquire() as conn:
        await migrate(conn, [pg_log.MIGRATIONS])
    try:
        yield pool
    finally:
        await pool.close()


class TestInProcessTransport(TransportContract):
    @pytest.fixture
    def transport_backend(self, tmp_path: Path) -> Any:
        backend = InProcessBackend(tmp_path / "log.db")
        yield backend
        backend.close()


@pytest.mark.services
class TestPostgresTransport(TransportContract):
    @pytest.fixture
    async def transport_backend(
        self, pg_database: PostgresDatabase, pg_pool: Pool
    ) -> AsyncIterator[PostgresBackend]:
        backend = PostgresBackend(pg_database.url, pg_pool)
        yield backend
        await backend.close()


async def _nats_backend(
    url: str, database: PostgresDatabase, pool: Pool, replicas: int
) -> AsyncIterator[NatsBackend]:
    from nats.js.errors import NotFoundError

    from tandem.transport.nats.client import connect

    stream = nats_names()
    nc = await connect(url)
    backend = NatsBackend(database.url, pool, nc, stream, replicas)
    await backend.start_relay()
    try:
        yield backend
    finally:
        await backend.close()
        with contextlib.suppress(NotFoundError):
            await nc.jetstream().delete_stream(stream)
        await nc.close()


@pytest.mark.services
class TestNatsTransport(TransportContract):
    @pytest.fixture
    async def transport_backend(
        self, pg_database: PostgresDatabase, pg_pool: Pool
    ) -> AsyncIterator[NatsBackend]:
        async for backend in _nats_backend(NATS_URL, pg_database, pg_pool, 1):
            yield backend


@pytest.mark.services
class TestNatsClusterTransport(TransportContract):
    """On a 3-node cluster, the stream and its consumers on all three; the client
    given every node's URL."""

    @pytest.fixture
    async def transport_backend(
        self, nats_cluster: NatsCluster, pg_database: PostgresDatabase, pg_pool: Pool
    ) -> AsyncIterator[NatsBackend]:
        async for backend in _nats_backend(nats_cluster.url, pg_database, pg_pool, 3):
            yield backend

    async def test_the_stream_and_consumers_are_kept_by_three_servers(
        self, transport_backend: NatsBackend
    ) -> None:
        backend = transport_backend
        written = await backend.append(recorded("a", 1, 3))
        async with running(backend, MemoryStore(), "replicated") as runner:
            await reach(runner, written[-1].position)
        jsm = backend.nc.jsm()
        stream = await jsm.stream_info(backend.stream)
        consumer = await jsm.consumer_info(backend.stream, f"{backend.stream}_replicated")
        assert stream.config.num_replicas == 3
        assert stream.cluster is not None and len(stream.cluster.replicas or []) == 2
        assert consumer.cluster is not None and len(consumer.cluster.replicas or []) == 2

    async def test_leader_changes_under_writes_lose_and_repeat_nothing(
        self, transport_backend: NatsBackend
    ) -> None:
        """The stream's leader changes twice, and the consumer's once, while events are
        written and relayed: the runner applies each once, in order, and the stream
        itself holds each position once, in order (the relay re-published what an
        election refused or left unanswered, and nothing twice)."""
        backend, nc, stream = transport_backend, transport_backend.nc, transport_backend.stream
        store = MemoryStore()
        written: list[int] = []

        elected = asyncio.Event()

        async def write() -> None:
            """Batches of 5 events until the elections are over, and 20 batches more."""
            batch, after = 0, 0
            while after < 20:
                events = await backend.append(recorded(f"w{batch % 4}", batch // 4 * 5 + 1, 5))
                written.extend(e.position for e in events)
                batch, after = batch + 1, after + elected.is_set()
                await asyncio.sleep(0.01)

        async with running(backend, store, "moved") as runner:
            writer = asyncio.create_task(write())
            leaders = [await stream_leader(nc, stream)]
            for step in range(3):
                await asyncio.sleep(0.3)
                await step_down(nc, stream, f"{stream}_moved" if step == 1 else None)
                if step != 1:
                    await asyncio.sleep(0.2)
                    leaders.append(await stream_leader(nc, stream))
            elected.set()
            await writer
            # Until the relay has caught up: a publish or API request left unanswered
            # by a leader that stepped down is retried after 2 s.
            assert await relayed_through(nc, stream, written[-1], timeout=30)
            await reach(runner, written[-1], timeout=60)
        assert leaders[0] != leaders[1] != leaders[2], leaders
        assert store.applied == written
        in_stream = await relayed_positions(nc, stream)
        missing = sorted(set(written) - set(in_stream))
        twice = sorted(p for p, n in Counter(in_stream).items() if n > 1)
        assert (missing, twice) == ([], []), f"missing {missing[:10]}, twice {twice[:10]}"
        assert in_stream == written

    async def test_a_consumer_opened_while_the_stream_has_no_leader_waits_for_one(
        self, transport_backend: NatsBackend, nats_cluster: NatsCluster
    ) -> None:
        """The node leading the stream is SIGKILLed and a consumer opened at once: its
        requests go unanswered until another node leads (seconds), and are made again
        until then instead of failing the reader's start."""
        backend, nc, stream = transport_backend, transport_backend.nc, transport_backend.stream
        written = [e.position for e in await backend.append(recorded("a", 1, 20))]
        assert await relayed_through(nc, stream, written[-1], timeout=30)
        killed = nats_cluster.node(await stream_leader(nc, stream))
        killed.stop(signal.SIGKILL)
        try:
            store = MemoryStore()
            async with running(backend, store, "orphaned") as runner:
                written += [e.position for e in await backend.append(recorded("a", 21, 20))]
                await reach(runner, written[-1], timeout=60)
            assert store.applied == written
        finally:
            killed.start()
            assert await replica_current(nc, stream, killed.server_name, timeout=60)
