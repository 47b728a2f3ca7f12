"""The read-model contract on Redis: product detail, category stats, carts and orders
of the services profile."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from catalog.read_models.cart_view.redis import RedisCartViewProjection
from catalog.read_models.cart_view.redis_reads import RedisCartViewReads
from catalog.read_models.category_stats.redis import RedisCategoryStatsProjection
from catalog.read_models.category_stats.redis_reads import RedisCategoryStatsReads
from catalog.read_models.order_view.redis import RedisOrderViewProjection
from catalog.read_models.order_view.redis_reads import RedisOrderViewReads
from catalog.read_models.product_detail.redis import RedisProductDetailProjection
from catalog.read_models.product_detail.redis_reads import RedisProductDetailReads
from tandem.bus import QueryBus
from tandem.projections.partitions import partitions
from tandem.stores.redis import RedisProjectionStore, connect
from tandem.testing.throwaway import REDIS_URL, delete_prefix
from tests.contracts.read_models.conftest import EmbeddedHistory
from tests.contracts.read_models.contract import (
    Answering,
    CartViewContract,
    CategoryStatsContract,
    OrderViewContract,
    ProductDetailContract,
)
from tests.support.folding import fold_events
from tests.support.redis_cluster import OwnRedisCluster
from tests.support.services import redis_prefix

# Each Redis read model: its projection and the class of its reads.
READ_MODELS = [
    (RedisProductDetailProjection, RedisProductDetailReads),
    (RedisCategoryStatsProjection, RedisCategoryStatsReads),
    (RedisCartViewProjection, RedisCartViewReads),
    (RedisOrderViewProjection, RedisOrderViewReads),
]


@pytest.mark.services
class TestRedisReadModels(
    ProductDetailContract, CategoryStatsContract, CartViewContract, OrderViewContract
):
    @pytest.fixture
    async def read_model_backend(
        self, embedded_history: EmbeddedHistory
    ) -> AsyncIterator[Answering]:
        prefix = redis_prefix()
        client = redis.asyncio.Redis.from_url(REDIS_URL)
        try:
            store = RedisProjectionStore(client, prefix)
            bus = QueryBus()
            for projection, reads in READ_MODELS:
                await fold_events(store, projection(), embedded_history.written.events)
                reads(client, prefix).register(bus)
            yield Answering(bus, embedded_history.written)
        finally:
            await delete_prefix(client, prefix)
            await client.aclose()


# Product detail split like a deployment with TANDEM_PARTITIONS=product_detail=3, so
# its parts sit in different hash slots of the cluster.
CLUSTER_PARTS = 3


@pytest.mark.services
class TestRedisClusterReadModels(
    ProductDetailContract, CategoryStatsContract, CartViewContract, OrderViewContract
):
    """The same contract on a Redis Cluster, product detail in partitions."""

    @pytest.fixture
    async def read_model_backend(
        self, embedded_history: EmbeddedHistory, redis_cluster: OwnRedisCluster
    ) -> AsyncIterator[Answering]:
        prefix = redis_prefix()
        client = connect(redis_cluster.url)
        try:
            store = RedisProjectionStore(client, prefix)
            bus = QueryBus()
            events = embedded_history.written.events
            for part in partitions(RedisProductDetailProjection, CLUSTER_PARTS):
                await fold_events(store, part, events)
            RedisProductDetailReads(client, prefix, CLUSTER_PARTS).register(bus)
            for projection, reads in READ_MODELS[1:]:
                await fold_events(store, projection(), events)
                reads(client, prefix).register(bus)
            yield Answering(bus, embedded_history.written)
        finally:
            await delete_prefix(client, prefix)
            await client.aclose()
