"""The catalog's write side on a test PostgreSQL database: a migrated pool and a
command bus over it, as `ServicesRuntime` wires them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from catalog.domain.events import ALL_EVENTS
from catalog.migrations import MIGRATIONS
from catalog.write import handlers
from catalog.write.postgres import SAVERS, PostgresCatalogUnitOfWork
from catalog.write.repositories import CatalogUnitOfWork
from tandem.bus import CommandBus, Middleware
from tandem.codec import EventRegistry
from tandem.db.postgres import Pool, create_pool
from tandem.migrations import migrate
from tandem.uow.postgres import PostgresWriter


@asynccontextmanager
async def migrated_pool(url: str, *, min_size: int, max_size: int) -> AsyncIterator[Pool]:
    pool = await create_pool(url, min_size=min_size, max_size=max_size)
    async with pool.acquire() as conn:
        await migrate(conn, MIGRATIONS)
    try:
        yield pool
    finally:
        await pool.close()


def catalog_writer(pool: Pool) -> PostgresWriter:
    registry = EventRegistry()
    registry.register(*ALL_EVENTS)
    return PostgresWriter(pool, registry, SAVERS)


def catalog_bus(
    pool: Pool, *middleware: Middleware, writer: PostgresWriter | None = None
) -> CommandBus[CatalogUnitOfWork]:
    writer = writer or catalog_writer(pool)
    bus: CommandBus[CatalogUnitOfWork] = CommandBus(
        lambda: PostgresCatalogUnitOfWork(writer), list(middleware)
    )
    handlers.register(bus)
    return bus
