"""The catalog's queries."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from catalog.read_models.shapes import SalesGrouping
from tandem.messages import Query


@dataclass(frozen=True, kw_only=True)
class GetProduct(Query):
    product_id: str


@dataclass(frozen=True, kw_only=True)
class SearchProducts(Query):
    q: str | None = None
    category: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    in_stock: bool | None = None
    sort: str = "relevance"
    limit: int = 20
    cursor: str | None = None


@dataclass(frozen=True, kw_only=True)
class ListCategories(Query):
    pass


@dataclass(frozen=True, kw_only=True)
class GetCategoryStats(Query):
    category_id: str


@dataclass(frozen=True, kw_only=True)
class GetCart(Query):
    cart_id: str
    customer: str
    admin: bool = False


@dataclass(frozen=True, kw_only=True)
class GetOrder(Query):
    order_id: str
    customer: str
    admin: bool = False


@dataclass(frozen=True, kw_only=True)
class SalesAnalytics(Query):
    start: str | None = None
    end: str | None = None
    group_by: SalesGrouping = "day"


@dataclass(frozen=True, kw_only=True)
class PriceHistory(Query):
    product_id: str
