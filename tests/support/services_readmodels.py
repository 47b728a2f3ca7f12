"""Compare the live read models of a services deployment with a rebuild from the log.

The rebuild folds the whole PostgreSQL event log into fresh stores (a new Redis key
prefix, a new read database) with the same projections the workers run; then every
Redis key and every search table row must be equal. The product feed and the scope
changes are left out: they are delivery logs, of document versions and of which answers
a batch changed (capped, and cut by batch), not part of any read model.
"""

from __future__ import annotations

import uuid
from typing import Any

from catalog.read_models.cart_view.redis import RedisCartViewProjection
from catalog.read_models.category_stats.redis import (
    SCOPES,
    RedisCategoryStatsProjection,
)
from catalog.read_models.order_view.redis import RedisOrderViewProjection
from catalog.read_models.product_detail.redis import FEED, RedisProductDetailProjection
from catalog.read_models.product_search.postgres import TABLES, PostgresProductSearchProjection
from catalog.read_models.product_search.postgres_schema import SearchTables
from catalog.runtime.rebuilds.storage import stored_class
from tandem.db.postgres import create_pool
from tandem.eventlog.postgres import PostgresEventLog
from tandem.projections.base import AsyncProjection
from tandem.projections.partitions import partitions as split
from tandem.rebuilds.postgres import copy_of
from tandem.stores.postgres import PostgresProjectionStore, table_prefix
from tandem.stores.redis import RedisClient, RedisProjectionStore, RedisTx, connect
from tandem.testing.throwaway import delete_prefix
from tests.support.services import REDIS_URL, create_database, drop_database

REDIS_PROJECTIONS: list[type[AsyncProjection[RedisTx]]] = [
    RedisProductDetailProjection,
    RedisCategoryStatsProjection,
    RedisCartViewProjection,
    RedisOrderViewProjection,
]


async def dump_redis_namespace(client: RedisClient, ns: str) -> dict[str, Any]:
    """Every key under `ns` (relative) with its type and value; stream entries by content."""
    result: dict[str, Any] = {}
    async for raw in client.scan_iter(match=f"{ns}*", count=1000):
        key = raw.decode()
        kind = (await client.type(key)).decode()
        if kind == "string":
            value: Any = await client.get(key)
        elif kind == "hash":
            value = await client.hgetall(key)
        elif kind == "set":
            value = sorted(await client.smembers(key))
        elif kind == "stream":
            value = [fields for _id, fields in await client.xrange(key)]
        else:
            value = await client.zrange(key, 0, -1, withscores=True)
        result[key.removeprefix(ns)] = (kind, value)
    return result


async def dump_search(url: str, tables: SearchTables = TABLES) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the search tables, by table role (so two copies compare equal)."""
    pool = await create_pool(url, min_size=1, max_size=1)
    try:
        out: dict[str, list[tuple[Any, ...]]] = {}
        roles = {"categories": tables.categories, "closure": tables.closure}
        roles |= {"products": tables.products, "matches": tables.matches, "offers": tables.offers}
        roles |= {"facets": tables.facets}
        # Not the scope changes: the batches a fold happened to take decide their rows.
        roles |= {"vocabulary": tables.vocabulary}
        for role, table in roles.items():
            rows = await pool.fetch(f"SELECT * FROM {table}")
            out[role] = sorted(tuple(str(v) for v in r.values()) for r in rows)
        return out
    finally:
        await pool.close()


def live_copy(projection: Any, generations: dict[str, int] | None) -> Any:
    """The projection class as its live copy stores it (generation 1 unless told)."""
    number = (generations or {}).get(projection.name, 1)
    return stored_class(projection, copy_of(projection.name, number, projection.version))


async def differences(
    write_url: str,
    read_url: str,
    prefix: str,
    partitions: dict[str, int] | None = None,
    generations: dict[str, int] | None = None,
    redis_url: str = REDIS_URL,
) -> list[str]:
    """Fold the whole log into fresh stores and list every difference with the live ones
    (empty when every read model equals its rebuild). Partitioned projections are
    rebuilt as the same partitions and compared namespace by namespace; `generations`
    names the live copy of each rebuilt read model."""
    client = connect(redis_url)  # one node, or a Redis Cluster
    write_pool = await create_pool(write_url, min_size=1, max_size=2)
    rebuilt_db = await create_database("tandem_rebuild")
    rebuilt_prefix = f"tandem_rebuild_{uuid.uuid4().hex[:8]}"
    read_pool = await create_pool(rebuilt_db.url, min_size=1, max_size=2)
    problems: list[str] = []
    try:
        log = PostgresEventLog(write_pool)
        head = await log.head()
        redis_store = RedisProjectionStore(client, rebuilt_prefix)
        live_store = RedisProjectionStore(client, prefix)
        search_store = PostgresProjectionStore(read_pool)
        counts = partitions or {}
        redis_parts = [part for p in REDIS_PROJECTIONS for part in split(p, counts.get(p.name, 1))]
        projections: list[tuple[Any, Any]] = [(p, redis_store) for p in redis_parts]
        projections.append((PostgresProductSearchProjection(), search_store))
        for projection, store in projections:
            await store.setup(projection)
            position = 0
            while events := await log.read_after(position, 1000):
                position = await store.apply(projection, events)
            if position != head:
                problems.append(f"{projection.name}: rebuild reached {position}, head is {head}")
        live_parts = [
            part
            for p in REDIS_PROJECTIONS
            for part in split(live_copy(p, generations), counts.get(p.name, 1))
        ]
        for cls, live_cls in zip(redis_parts, live_parts, strict=True):
            live = await dump_redis_namespace(
                client, live_store.namespace_of(live_cls.name, live_cls.version)
            )
            rebuilt_ns = redis_store.namespace_of(cls.name, cls.version)
            again = await dump_redis_namespace(client, rebuilt_ns)
            for delivery_log in (FEED, SCOPES):
                live.pop(delivery_log, None)
                again.pop(delivery_log, None)
            for key in sorted(set(live) | set(again)):
                if live.get(key) != again.get(key):
                    problems.append(f"{cls.name}:{key}: live {live.get(key)} != {again.get(key)}")
        live_tables = SearchTables.named(
            table_prefix(live_copy(PostgresProductSearchProjection, generations))
        )
        if await dump_search(read_url, live_tables) != await dump_search(rebuilt_db.url):
            problems.append("product_search: live tables differ from the rebuild")
    finally:
        await read_pool.close()
        await write_pool.close()
        await drop_database(rebuilt_db)
        await delete_prefix(client, rebuilt_prefix)
        await client.aclose()
    return problems
