"""The read-model contract at separation level 1: every query answered from the write
tables the history was written to, on SQLite (embedded) and on PostgreSQL (services,
the same commands sent through a services-profile command bus at level 1)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio

from catalog.bootstrap import build_services
from catalog.migrations import MIGRATIONS
from catalog.read_models.level1.postgres import PostgresSnapshots
from catalog.read_models.level1.reads import Level1Reads
from catalog.read_models.level1.sqlite import SqliteSnapshots
from catalog.settings import Settings
from tandem.bus import QueryBus
from tandem.db.postgres import create_pool
from tandem.eventlog.base import EventLogReader
from tandem.messages import StoredEvent
from tandem.migrations import migrate
from tandem.testing.eventlog import VISIBLE_WITHIN, read_all
from tandem.testing.throwaway import drop_database
from tests.contracts.read_models.conftest import EmbeddedHistory
from tests.contracts.read_models.contract import (
    Answering,
    CartViewContract,
    CategoryStatsContract,
    OrderViewContract,
    PriceHistoryContract,
    ProductDetailContract,
    ProductSearchContract,
    SalesAnalyticsContract,
)
from tests.contracts.read_models.history import Written, write_history
from tests.support.services import create_database


class Level1Contract(
    ProductDetailContract,
    CategoryStatsContract,
    CartViewContract,
    OrderViewContract,
    ProductSearchContract,
    SalesAnalyticsContract,
    PriceHistoryContract,
):
    """Level 1 answers every query, so it owes every read model's contract."""


class TestLevel1OnSqlite(Level1Contract):
    @pytest.fixture
    async def read_model_backend(
        self, embedded_history: EmbeddedHistory
    ) -> AsyncIterator[Answering]:
        snapshots = SqliteSnapshots(embedded_history.write_database)
        try:
            bus = QueryBus()
            Level1Reads(snapshots).register(bus)
            yield Answering(bus, embedded_history.written)
        finally:
            snapshots.close()


@dataclass(frozen=True)
class PostgresHistory:
    """The history as a PostgreSQL write database recorded it."""

    written: Written
    url: str


async def read_through(log: EventLogReader, version: int) -> list[StoredEvent]:
    """The whole log once the event at `version` is visible: PostgreSQL holds committed
    events back while any older transaction on the server is open (another test's)."""
    deadline = time.monotonic() + VISIBLE_WITHIN
    while True:
        events = await read_all(log, 0)
        if events and events[-1].position >= version:
            return events
        assert time.monotonic() < deadline, f"the log stayed behind version {version}"
        await asyncio.sleep(0.01)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def postgres_history(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[PostgresHistory]:
    db = await create_database()
    try:
        pool = await create_pool(db.url, min_size=1, max_size=1)
        async with pool.acquire() as conn:
            await migrate(conn, MIGRATIONS)
        await pool.close()
        settings = Settings.from_env(
            {
                "TANDEM_DATA_DIR": str(tmp_path_factory.mktemp("level1-postgres")),
                "TANDEM_DATABASE_URL": db.url,
                "TANDEM_LEVEL": "1",
            }
        )
        cat = build_services(settings)
        await cat.start()
        try:
            last = await write_history(cat.command_bus.dispatch)
            events = await read_through(cat.log, last)
        finally:
            await cat.stop()
            await cat.aclose()
        yield PostgresHistory(Written(events), db.url)
    finally:
        await drop_database(db)


@pytest.mark.services
class TestLevel1OnPostgres(Level1Contract):
    @pytest.fixture
    async def read_model_backend(
        self, postgres_history: PostgresHistory
    ) -> AsyncIterator[Answering]:
        pool = await create_pool(postgres_history.url, min_size=1, max_size=2)
        try:
            bus = QueryBus()
            Level1Reads(PostgresSnapshots(pool)).register(bus)
            yield Answering(bus, postgres_history.written)
        finally:
            await pool.close()
