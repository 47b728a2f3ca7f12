"""The API's read-database pool holds the connections `TANDEM_READ_POOL_SIZE` allows,
and searches beyond them wait for one instead of failing."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest
import redis.asyncio

from catalog.bootstrap import build_services
from catalog.domain.commands import CreateCategory, CreateProduct
from catalog.read_models.queries import SearchProducts
from catalog.runtime.contract import Role
from catalog.settings import Settings
from tests.support.pg_writes import migrated_pool
from tests.support.services import REDIS_URL, PostgresDatabase, redis_prefix
from tests.support.services_readmodels import delete_prefix

pytestmark = pytest.mark.services


async def test_the_read_pool_has_the_size_set_and_queues_searches_past_it(
    pg_database: PostgresDatabase, pg_read_database: PostgresDatabase, tmp_path: Path
) -> None:
    async with migrated_pool(pg_database.url, min_size=1, max_size=1):
        pass
    prefix = redis_prefix()
    settings = Settings.from_env(
        {
            "TANDEM_DATA_DIR": str(tmp_path),
            "TANDEM_DATABASE_URL": pg_database.url,
            "TANDEM_READ_DATABASE_URL": pg_read_database.url,
            "TANDEM_REDIS_URL": REDIS_URL,
            "TANDEM_REDIS_PREFIX": prefix,
            "TANDEM_READ_POOL_SIZE": "2",
            "TANDEM_ANSWER_CACHE": "0",
        }
    )
    catalog = build_services(settings, roles=(Role.API, Role.WORKER))
    await catalog.start()
    try:
        assert catalog.read_pool.get_max_size() == 2
        category = (await catalog.command_bus.dispatch(CreateCategory(name="Lights"))).id
        created = await catalog.command_bus.dispatch(
            CreateProduct(sku="L-1", name="Lamp", category_id=category, price=Decimal(1))
        )
        searches = [
            catalog.query_bus.ask(SearchProducts(q="lamp"), min_version=created.version, timeout=20)
            for _ in range(12)
        ]
        answers = await asyncio.gather(*searches)
        assert [answer.value["total"] for answer in answers] == [1] * 12
        assert catalog.read_pool.get_size() <= 2
    finally:
        await catalog.stop()
        await catalog.aclose()
        client = redis.asyncio.Redis.from_url(REDIS_URL)
        await delete_prefix(client, prefix)
        await client.aclose()
