"""Queries of a PostgreSQL read model whose tables the workers have not created yet (a
deployment just started) answer "read model behind", a 503 with `Retry-After`, not a
driver error that the API turns into a 500."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from tests.support.services import PostgresDatabase

from catalog.api.problems import from_exception
from catalog.read_models.price_history.postgres_reads import PostgresPriceHistoryReads
from catalog.read_models.product_search.postgres_reads import PostgresSearchReads
from catalog.read_models.queries import PriceHistory, SalesAnalytics, SearchProducts
from catalog.read_models.sales_analytics.postgres_reads import PostgresSalesAnalyticsReads
from tandem.db.postgres import create_pool
from tandem.errors import ReadModelNotReady

pytestmark = pytest.mark.services

ASKED: dict[str, Callable[[Any], Awaitable[Any]]] = {
    "product_search": lambda pool: PostgresSearchReads(pool).search(SearchProducts(q="lamp")),
    "sales_analytics": lambda pool: PostgresSalesAnalyticsReads(pool).sales_analytics(
        SalesAnalytics()
    ),
    "price_history": lambda pool: PostgresPriceHistoryReads(pool).price_history(
        PriceHistory(product_id="p1")
    ),
}


@pytest.mark.parametrize("name", sorted(ASKED))
async def test_a_read_model_not_set_up_yet_is_behind(
    pg_read_database: PostgresDatabase, name: str
) -> None:
    pool = await create_pool(pg_read_database.url, min_size=1, max_size=1)
    try:
        with pytest.raises(ReadModelNotReady) as raised:
            await ASKED[name](pool)
    finally:
        await pool.close()
    assert raised.value.projection == name
    problem = from_exception(raised.value)
    assert (problem.status, problem.type) == (503, "read-model-behind")
    assert problem.headers == {"Retry-After": "1"}
