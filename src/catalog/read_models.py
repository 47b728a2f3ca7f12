"""Every read model of the catalog: its projection, the store it needs, its queries.

The composition root turns each entry into a running projection (`sync` in the write
database or `async` in its own store) and registers its query handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from catalog.projections.cart_view import CartViewProjection
from catalog.projections.category_stats import CategoryStatsProjection
from catalog.projections.order_view import OrderViewProjection
from catalog.projections.price_history import PriceHistoryProjection
from catalog.projections.product_detail import ProductDetailProjection
from catalog.projections.product_search import ProductSearchProjection
from catalog.projections.sales_analytics import SalesAnalyticsProjection
from catalog.read.analytics import PriceHistoryReads, SalesAnalyticsReads
from catalog.read.cart_view import CartViewReads
from catalog.read.category_stats import CategoryStatsReads
from catalog.read.order_view import OrderViewReads
from catalog.read.product_detail import ProductDetailReads
from catalog.read.product_search import ProductSearchReads
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
