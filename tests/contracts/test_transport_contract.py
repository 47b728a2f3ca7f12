"""The transport contract against every transport: in-process, PostgreSQL, NATS JetStream."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
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
from tandem.testing.transports import Source, TransportContract
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
    """JetStream: a relay publishes the PostgreSQL log; each consumer is a durable one."""

    def __init__(self, url: str, pool: Pool, nc: Any, stream: str) -> None:
        super().__init__(url, pool)
        self.nc = nc
        self.stream = stream
        self.subjects = f"tandem.{stream.lower()}"

    async def start_relay(self) -> None:
        from tandem.transport.nats.relay import NatsRelay

        log, head, tasks = await self.follow()
        relay = NatsRelay(log, self.nc, head, stream=self.stream, subject_prefix=self.subjects)
        self.tasks += [*tasks, asyncio.create_task(relay.run())]

    async def open_source(self, consumer: str) -> Source:
        from tandem.transport.nats.reader import NatsEventReader

        reader = NatsEventReader(
            self.nc,
            stream=self.stream,
            subject_prefix=self.subjects,
            durable=f"{self.stream}_{consumer}",
            fallback=pg_log.PostgresEventLog(self.pool),
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


@pytest.mark.services
class TestNatsTransport(TransportContract):
    @pytest.fixture
    async def transport_backend(
        self, pg_database: PostgresDatabase, pg_pool: Pool
    ) -> AsyncIterator[NatsBackend]:
        import nats
        from nats.js.errors import NotFoundError

        stream = nats_names()
        nc = await nats.connect(NATS_URL)
        backend = NatsBackend(pg_database.url, pg_pool, nc, stream)
        await backend.start_relay()
        try:
            yield backend
        finally:
            await backend.close()
            with contextlib.suppress(NotFoundError):
                await nc.jetstream().delete_stream(stream)
            await nc.close()
