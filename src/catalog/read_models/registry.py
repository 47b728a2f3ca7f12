"""Every read model of the catalog: its projection, the store it needs, its queries.

The composition root turns each entry into a running projection (`sync` in the write
database or `async` in its own store) and registers its query handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

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


class Reads(Protocol):
    def register(self, bus: QueryBus) -> None: ...


@dataclass(frozen=True)
class ReadModel:
    projection: Callable[[], Projection[Any]]
    store: Literal["sqlite", "duckdb"]
    reads: Callable[[Any], Reads]

    @property
    def can_sync(self) -> bool:
        """Only read models on SQLite can live in the (SQLite) write database."""
        return self.store == "sqlite"


READ_MODELS: tuple[ReadModel, ...] = (
    ReadModel(ProductDetailProjection, "sqlite", ProductDetailReads),
    ReadModel(ProductSearchProjection, "sqlite", ProductSearchReads),
    ReadModel(CategoryStatsProjection, "sqlite", CategoryStatsReads),
    ReadModel(CartViewProjection, "sqlite", CartViewReads),
    ReadModel(OrderViewProjection, "sqlite", OrderViewReads),
    ReadModel(SalesAnalyticsProjection, "duckdb", SalesAnalyticsReads),
    ReadModel(PriceHistoryProjection, "duckdb", PriceHistoryReads),
)
