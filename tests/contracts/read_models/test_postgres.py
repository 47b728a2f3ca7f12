"""The read-model contract on PostgreSQL: product search and the analytics of the
services profile, in its read database."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from catalog.read_models.price_history.postgres import PostgresPriceHistoryProjection
from catalog.read_models.price_history.postgres_reads import PostgresPriceHistoryReads
from catalog.read_models.product_search.postgres import PostgresProductSearchProjection
from catalog.read_models.product_search.postgres_reads import PostgresSearchReads
from catalog.read_models.sales_analytics.postgres import PostgresSalesAnalyticsProjection
from catalog.read_models.sales_analytics.postgres_reads import PostgresSalesAnalyticsReads
from tandem.bus import QueryBus
from tandem.db.postgres import create_pool
from tandem.stores.postgres import PostgresProjectionStore
from tandem.testing.throwaway import PostgresDatabase
from tests.contracts.read_models.conftest import EmbeddedHistory
from tests.contracts.read_models.contract import (
    Answering,
    PriceHistoryContract,
    ProductSearchContract,
    ProductSearchTypoContract,
    SalesAnalyticsContract,
)
from tests.support.folding import fold_events


@contextlib.asynccontextmanager
async def folded(
    history: EmbeddedHistory, database: PostgresDatabase, *read_models: tuple[Any, Any]
) -> AsyncIterator[Answering]:
    """The history folded into each (projection, reads class) pair's tables in
    `database`, every read model's queries on one bus."""
    pool = await create_pool(database.url, min_size=1, max_size=2)
    try:
        store = PostgresProjectionStore(pool)
        bus = QueryBus()
        for projection, reads in read_models:
            await fold_events(store, projection(), history.written.events)
            reads(pool).register(bus)
        yield Answering(bus, history.written)
    finally:
        await pool.close()


@pytest.mark.services
class TestPostgresSearch(ProductSearchContract, ProductSearchTypoContract):
    @pytest.fixture
    async def read_model_backend(
        self, embedded_history: EmbeddedHistory, pg_read_database: PostgresDatabase
    ) -> AsyncIterator[Answering]:
        search = (PostgresProductSearchProjection, PostgresSearchReads)
        async with folded(embedded_history, pg_read_database, search) as backend:
            yield backend


@pytest.mark.services
class TestPostgresAnalytics(SalesAnalyticsContract, PriceHistoryContract):
    """The analytics the services profile's workers fold once for every API process."""

    @pytest.fixture
    async def read_model_backend(
        self, embedded_history: EmbeddedHistory, pg_read_database: PostgresDatabase
    ) -> AsyncIterator[Answering]:
        async with folded(
            embedded_history,
            pg_read_database,
            (PostgresSalesAnalyticsProjection, PostgresSalesAnalyticsReads),
            (PostgresPriceHistoryProjection, PostgresPriceHistoryReads),
        ) as backend:
            yield backend
