"""Everything that can happen in the catalog, one event per fact."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar

from tandem.messages import Event


@dataclass(frozen=True, kw_only=True)
class CategoryEvent(Event):
    aggregate_type: ClassVar[str] = "category"


@dataclass(frozen=True, kw_only=True)
class CategoryCreated(CategoryEvent):
    name: str
    slug: str
    parent_id: str | None


@dataclass(frozen=True, kw_only=True)
class CategoryRenamed(CategoryEvent):
    name: str
    slug: str


@dataclass(frozen=True, kw_only=True)
class ProductEvent(Event):
    aggregate_type: ClassVar[str] = "product"


@dataclass(frozen=True, kw_only=True)
class ProductCreated(ProductEvent):
    sku: str
    name: str
    description: str
    category_id: str
    price: Decimal
    currency: str
    attributes: dict[str, str] = field(default_factory=dict)
    stock: int = 0


@dataclass(frozen=True, kw_only=True)
class ProductDetailsUpdated(ProductEvent):
    """Carries the full new details, so readers need no earlier state to apply it."""

    name: str
    description: str
    attributes: dict[str, str]
    category_id: str
    previous_category_id: str


@dataclass(frozen=True, kw_only=True)
class PriceChanged(ProductEvent):
    price: Decimal
    previous_price: Decimal
    currency: str


@dataclass(frozen=True, kw_only=True)
class StockAdjusted(ProductEvent):
    delta: int
    reason: str
    stock: int


@dataclass(frozen=True, kw_only=True)
class ProductDiscontinued(ProductEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class CartEvent(Event):
    aggregate_type: ClassVar[str] = "cart"


@dataclass(frozen=True, kw_only=True)
class CartOpened(CartEvent):
    owner: str


@dataclass(frozen=True, kw_only=True)
class CartItemAdded(CartEvent):
    product_id: str
    quantity: int
    line_quantity: int


@dataclass(frozen=True, kw_only=True)
class CartItemRemoved(CartEvent):
    product_id: str


@dataclass(frozen=True, kw_only=True)
class CartCheckedOut(CartEvent):
    order_id: str


@dataclass(frozen=True)
class OrderLine:
    product_id: str
    sku: str
    name: str
    category_id: str
    quantity: int
    unit_price: Decimal
    line_total: Decimal


@dataclass(frozen=True, kw_only=True)
class OrderEvent(Event):
    aggregate_type: ClassVar[str] = "order"


@dataclass(frozen=True, kw_only=True)
class OrderPlaced(OrderEvent):
    cart_id: str
    customer: str
    lines: tuple[OrderLine, ...]
    total: Decimal
    currency: str
    placed_at: float
    # Given at checkout, or None (orders placed before checkout asked for them).
    contact_name: str | None = None
    contact_email: str | None = None


@dataclass(frozen=True, kw_only=True)
class OrderCancelled(OrderEvent):
    customer: str
    lines: tuple[OrderLine, ...]
    total: Decimal
    placed_at: float


ALL_EVENTS: tuple[type[Event], ...] = (
    CategoryCreated,
    CategoryRenamed,
    ProductCreated,
    ProductDetailsUpdated,
    PriceChanged,
    StockAdjusted,
    ProductDiscontinued,
    CartOpened,
    CartItemAdded,
    CartItemRemoved,
    CartCheckedOut,
    OrderPlaced,
    OrderCancelled,
)

# Every event of the category and product aggregates, by type name: what the read
# models of the catalog's products (detail, search, category stats) fold. Written out
# rather than derived from the classes, so that a new product event reaches those folds
# only once they handle it; a unit test keeps it equal to the classes.
CATEGORY_AND_PRODUCT_EVENTS = frozenset(
    {
        "CategoryCreated",
        "CategoryRenamed",
        "ProductCreated",
        "ProductDetailsUpdated",
        "PriceChanged",
        "StockAdjusted",
        "ProductDiscontinued",
    }
)
