"""The documents queries answer: one shape each.

The read models build their documents as these types (on every store, and the write
tables at level 1), and the HTTP API publishes the same types in its OpenAPI document,
so a client generated from it reads what the read models write. Money is a decimal
string with two places; a field that can take a few values only is a `Literal`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from typing_extensions import TypedDict

Money = Annotated[str, Field(pattern=r"^-?\d+\.\d{2}$", examples=["19.99"])]
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
Id = Annotated[str, Field(description="A UUID.")]
ProductStatus = Literal["active", "discontinued"]
OrderStatus = Literal["placed", "cancelled"]
SalesGrouping = Literal["day", "category", "product"]


class CategoryBlock(TypedDict):
    """A product's category, with the names from the root down to it."""

    id: Id
    name: str
    path: list[str]


class ProductDocument(TypedDict):
    """`GET /products/{id}`: a product as a shopper sees it."""

    id: Id
    sku: str
    name: str
    description: str
    category: CategoryBlock
    price: Money
    currency: str
    stock: int
    in_stock: bool
    status: ProductStatus
    attributes: dict[str, str]
    version: Annotated[int, Field(description="The product's aggregate version.")]


class SummaryCategory(TypedDict):
    id: Id
    name: str


class ProductSummary(TypedDict):
    """One search result."""

    id: Id
    sku: str
    name: str
    price: Money
    currency: str
    in_stock: bool
    stock: int
    category: SummaryCategory
    status: ProductStatus


class CategoryFacet(TypedDict):
    """Matches below one child of the searched category."""

    id: Id
    name: str
    count: int


class PriceFacet(TypedDict):
    """Matches in one price bucket; the last bucket has no upper bound."""

    min: Money
    max: Money | None
    count: int


class Facets(TypedDict):
    category: list[CategoryFacet]
    price: list[PriceFacet]


class SearchPage(TypedDict):
    """`GET /products`: a page of matches, their total and facets, and the cursor of
    the next page (null: none follows)."""

    items: list[ProductSummary]
    total: int
    next_cursor: str | None
    facets: Facets


class CategoryNode(TypedDict):
    """A category, its product count (its subtree's) and its sub-categories."""

    id: Id
    name: str
    slug: str
    parent_id: Id | None
    product_count: int
    children: list[CategoryNode]


class CategoryTree(TypedDict):
    """`GET /categories`: the root categories, each with its subtree."""

    categories: list[CategoryNode]


class CategoryStats(TypedDict):
    """`GET /categories/{id}/stats`: over the category's subtree; no prices when empty."""

    category_id: Id
    name: str
    product_count: int
    in_stock_count: int
    min_price: Money | None
    max_price: Money | None
    avg_price: Money | None
    total_stock: int


class CartLine(TypedDict):
    product_id: Id
    name: str
    unit_price: Money
    quantity: int
    line_total: Money


class Cart(TypedDict):
    """`GET /carts/{id}`: priced at the products' current prices; no currency while
    empty or when lines mix currencies."""

    id: Id
    owner: str
    lines: list[CartLine]
    subtotal: Money
    currency: str | None


class OrderLine(TypedDict):
    product_id: Id
    sku: str
    name: str
    quantity: int
    unit_price: Money
    line_total: Money


class OrderContact(TypedDict):
    """Whom an order is for, as given at checkout."""

    name: str
    email: str


class Order(TypedDict):
    """`GET /orders/{id}`: an order at the prices it was placed at; `contact` is null
    when the checkout gave none."""

    id: Id
    customer: str
    status: OrderStatus
    lines: list[OrderLine]
    total: Money
    currency: str
    placed_at: Timestamp
    contact: OrderContact | None


class SalesRow(TypedDict):
    """One group: a day (`YYYY-MM-DD`), a category or a product, and its name."""

    key: str
    name: str
    orders: int
    units: int
    revenue: Money


class SalesReport(TypedDict):
    """`GET /analytics/sales`: placed orders grouped by `group_by`."""

    group_by: SalesGrouping
    rows: list[SalesRow]


class PricePoint(TypedDict):
    at: Timestamp
    price: Money


class PriceHistory(TypedDict):
    """`GET /products/{id}/price-history`: every price the product had, oldest first."""

    product_id: Id
    points: list[PricePoint]
