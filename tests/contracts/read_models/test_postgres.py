"""The read-model contract on PostgreSQL: product search of the services profile, in
its read database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from catalog.read_models.product_search.postgres import PostgresProductSearchProjection
from catalog.read_models.product_search.postgres_reads import PostgresSearchReads
from tandem.bus import QueryBus
from tandem.db.postgres import create_pool
from tandem.stores.postgres import PostgresProjectionStore
from tandem.testing.throwaway import PostgresDatabase
from tests.contracts.read_models.conftest import EmbeddedHistory
from tests.contracts.read_models.contract import (
    Answering,
    ProductSearchContract,
    ProductSearchTypoContract,
)
from tests.support.folding import fold_events


@pytest.mark.services
class TestPostgresSearch(ProductSearchContract, ProductSearchTypoContract):
    @pytest.fixture
    async def read_model_backend(
        self, embedded_history: EmbeddedHistory, pg_read_database: PostgresDatabase
    ) -> AsyncIterator[Answering]:
        pool = await create_pool(pg_read_database.url, min_size=1, max_size=2)
        try:
            store = PostgresProjectionStore(pool)
            projection = PostgresProductSearchProjection()
            await fold_events(store, projection, embedded_history.written.events)
            bus = QueryBus()
            PostgresSearchReads(pool).register(bus)
            yield Answering(bus, embedded_history.written)
        finally:
            await pool.close()
