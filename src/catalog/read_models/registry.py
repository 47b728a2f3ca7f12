"""Every read model of the catalog, on both profiles: its projection, the store it needs
and the queries it answers.

The composition root turns each entry into a running read model: on the embedded
profile a `sync` projection in the write database or an `async` one in its own file
(`embedded`); on the services profile a projection the workers fold once into Redis or
the read database, for every API process to query (`services`, imported only when that
profile runs, so the embedded profile never imports redis or asyncpg).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from catalog.read_models.cart_view.sqlite import CartViewProjection
from catalog.read_models.cart_view.sqlite_reads import CartViewReads
from catalog.read_models.category_stats.sqlite import CategoryStatsProjection
from catalog.read_models.category_stats.sqlite_reads import CategoryStatsReads
from catalog.read_models.order_view.sqlite import OrderViewProjection
from catalog.read_models.order_view.sqlite_reads import OrderViewReads
from catalog.read_models.price_history.duckdb import PriceHistoryProjection
from catalog.read_models.price_history.duckdb_reads import PriceHistoryReads
from catalog.read_models.product_detail.sqlite import ProductDetailProjection
from catalog.read_models.product_detail.sqlite_reads import ProductDetailReads
from catalog.read_models.product_search.sqlite import ProductSearchProjection
from catalog.read_models.product_search.sqlite_reads import ProductSearchReads
from catalog.read_models.sales_analytics.duckdb import SalesAnalyticsProjection
from catalog.read_models.sales_analytics.duckdb_reads import SalesAnalyticsReads
from tandem.bus import QueryBus
from tandem.projections.base import Projection

if TYPE_CHECKING:
    from tandem.db.postgres import Pool
    from tandem.stores.redis import RedisClient


class Reads(Protocol):
    """The query handlers of one read model, registered on a query bus."""

    def register(self, bus: QueryBus) -> None: ...


class StoreKind(StrEnum):
    SQLITE = "sqlite"
    DUCKDB = "duckdb"
    REDIS = "redis"
    POSTGRES = "postgres"


class ServiceStores(Protocol):
    """The connections the services profile's queries read through."""

    redis: RedisClient
    redis_prefix: str
    read_pool: Pool

    def partitions_of(self, name: str) -> int: ...


ProjectionClass = type[Any]
"""A projection class (or a copy of one under another storage name and version)."""

EmbeddedReads = Callable[[Any], Reads]
"""Queries on an embedded copy, given its reader (SQLite) or its store (DuckDB)."""

ServiceReads = Callable[[ServiceStores, ProjectionClass], Reads]
"""Queries on a services copy, given the connections and the copy's projection class."""


@dataclass(frozen=True)
class EmbeddedReadModel:
    projection: Callable[[], Projection[Any]]
    store: StoreKind
    reads: EmbeddedReads

    @property
    def can_sync(self) -> bool:
        """Only read models on SQLite can live in the (SQLite) write database."""
        return self.store is StoreKind.SQLITE


@dataclass(frozen=True)
class ServiceReadModel:
    """One read model on the services profile: its projection, store and queries."""

    name: str
    store: StoreKind
    projection: ProjectionClass
    reads: ServiceReads


READ_MODELS: tuple[EmbeddedReadModel, ...] = (
    EmbeddedReadModel(ProductDetailProjection, StoreKind.SQLITE, ProductDetailReads),
    EmbeddedReadModel(ProductSearchProjection, StoreKind.SQLITE, ProductSearchReads),
    EmbeddedReadModel(CategoryStatsProjection, StoreKind.SQLITE, CategoryStatsReads),
    EmbeddedReadModel(CartViewProjection, StoreKind.SQLITE, CartViewReads),
    EmbeddedReadModel(OrderViewProjection, StoreKind.SQLITE, OrderViewReads),
    EmbeddedReadModel(SalesAnalyticsProjection, StoreKind.DUCKDB, SalesAnalyticsReads),
    EmbeddedReadModel(PriceHistoryProjection, StoreKind.DUCKDB, PriceHistoryReads),
)
"""The embedded profile's read models."""


def projection_names() -> frozenset[str]:
    """The name of every projection (the same on both profiles): what per-projection
    settings may name."""
    return frozenset(spec.projection().name for spec in READ_MODELS)


def service_read_models() -> list[ServiceReadModel]:
    """The services profile's read models, in the order of `READ_MODELS`."""
    from catalog.read_models.cart_view.redis import RedisCartViewProjection
    from catalog.read_models.cart_view.redis_reads import RedisCartViewReads
    from catalog.read_models.category_stats.redis import RedisCategoryStatsProjection
    from catalog.read_models.category_stats.redis_reads import RedisCategoryStatsReads
    from catalog.read_models.order_view.redis import RedisOrderViewProjection
    from catalog.read_models.order_view.redis_reads import RedisOrderViewReads
    from catalog.read_models.price_history.postgres import PostgresPriceHistoryProjection
    from catalog.read_models.price_history.postgres_reads import PostgresPriceHistoryReads
    from catalog.read_models.product_detail.redis import RedisProductDetailProjection
    from catalog.read_models.product_detail.redis_reads import RedisProductDetailReads
    from catalog.read_models.product_search.postgres import PostgresProductSearchProjection
    from catalog.read_models.product_search.postgres_reads import PostgresSearchReads
    from catalog.read_models.product_search.postgres_schema import SearchTables
    from catalog.read_models.sales_analytics.postgres import PostgresSalesAnalyticsProjection
    from catalog.read_models.sales_analytics.postgres_reads import PostgresSalesAnalyticsReads
    from tandem.stores.postgres import table_prefix

    def detail(stores: ServiceStores, stored: ProjectionClass) -> Reads:
        partitions = stores.partitions_of("product_detail")
        return RedisProductDetailReads(stores.redis, stores.redis_prefix, partitions, stored)

    def search(stores: ServiceStores, stored: ProjectionClass) -> Reads:
        tables = SearchTables.named(table_prefix(stored))
        return PostgresSearchReads(stores.read_pool, tables, stored.name)

    def on_redis(reads: type[Any]) -> ServiceReads:
        return lambda stores, stored: reads(stores.redis, stores.redis_prefix, stored_as=stored)

    def on_postgres(reads: type[Any]) -> ServiceReads:
        return lambda stores, stored: reads(stores.read_pool, stored)

    redis, postgres = StoreKind.REDIS, StoreKind.POSTGRES
    return [
        ServiceReadModel("product_detail", redis, RedisProductDetailProjection, detail),
        ServiceReadModel("product_search", postgres, PostgresProductSearchProjection, search),
        ServiceReadModel(
            "category_stats",
            redis,
            RedisCategoryStatsProjection,
            on_redis(RedisCategoryStatsReads),
        ),
        ServiceReadModel("cart_view", redis, RedisCartViewProjection, on_redis(RedisCartViewReads)),
        ServiceReadModel(
            "order_view", redis, RedisOrderViewProjection, on_redis(RedisOrderViewReads)
        ),
        ServiceReadModel(
            "sales_analytics",
            postgres,
            PostgresSalesAnalyticsProjection,
            on_postgres(PostgresSalesAnalyticsReads),
        ),
        ServiceReadModel(
            "price_history",
            postgres,
            PostgresPriceHistoryProjection,
            on_postgres(PostgresPriceHistoryReads),
        ),
    ]
