"""What a deployment does with Redis beyond folding and reading, on a Redis Cluster: a
rebuild's old copy dropped namespace by namespace, and the client the URL asks for."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio.cluster import RedisCluster
from tests.support.redis_cluster import OwnRedisCluster
from tests.support.services import redis_prefix

from catalog.runtime.rebuilds.storage import drop_namespace
from tandem.stores.redis import RedisClient, RedisProjectionStore, connect, is_cluster
from tandem.testing.throwaway import REDIS_URL, delete_prefix

pytestmark = pytest.mark.services


@pytest.fixture
async def client(redis_cluster: OwnRedisCluster) -> AsyncIterator[RedisClient]:
    cluster = connect(redis_cluster.url)
    try:
        yield cluster
    finally:
        await cluster.aclose()


def test_the_url_scheme_picks_the_client() -> None:
    assert not is_cluster(connect(REDIS_URL))
    assert isinstance(connect("redis+cluster://127.0.0.1:7000"), RedisCluster)


async def test_dropping_a_copy_deletes_its_keys_on_every_master_and_nothing_else(
    client: RedisClient,
) -> None:
    prefix = redis_prefix()
    store = RedisProjectionStore(client, prefix)
    try:
        # Partitions of two copies: namespaces in several slots, so on several masters.
        old = [store.namespace_of(f"product_detail.p{i}", 1) for i in range(6)]
        new = [store.namespace_of(f"product_detail_g2.p{i}", 1) for i in range(6)]
        assert len({client.keyslot(ns) for ns in old}) > 1
        for ns in old + new:
            await client.mset({f"{ns}product:{n}": n for n in range(50)})
        dropped = 0
        for ns in old:
            dropped += await drop_namespace(client, ns)
        assert dropped == 6 * 50
        left = [key.decode() async for key in client.scan_iter(match=f"{prefix}:*")]
        assert sorted(left) == sorted(f"{ns}product:{n}" for ns in new for n in range(50))
    finally:
        await delete_prefix(client, prefix)
