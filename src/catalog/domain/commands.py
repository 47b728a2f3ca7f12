"""The catalog's commands: imperative, self-contained, validated at the edge and here."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from tandem.messages import Command


@dataclass(frozen=True, kw_only=True)
class CreateCategory(Command):
    name: str
    parent_id: str | None = None
    id: str | None = None


@dataclass(frozen=True, kw_only=True)
class RenameCategory(Command):
    category_id: str
    name: str
    expected_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class CreateProduct(Command):
    sku: str
    name: str
    category_id: str
    price: Decimal
    description: str = ""
    currency: str = "USD"
    attributes: dict[str, str] = field(default_factory=dict)
    initial_stock: int = 0
    id: str | None = None


@dataclass(frozen=True, kw_only=True)
class UpdateProductDetails(Command):
    product_id: str
    name: str | None = None
    description: str | None = None
    attributes: dict[str, str] | None = None
    category_id: str | None = None
    expected_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class ChangePrice(Command):
    product_id: str
    price: Decimal
    expected_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class AdjustStock(Command):
    product_id: str
    delta: int
    reason: str
    expected_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class DiscontinueProduct(Command):
    product_id: str
    expected_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class AddToCart(Command):
    cart_id: str
    product_id: str
    quantity: int
    customer: str
    admin: bool = False
    expected_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class RemoveFromCart(Command):
    cart_id: str
    product_id: str
    customer: str
    admin: bool = False
    expected_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class PlaceOrder(Command):
    cart_id: str
    customer: str
    admin: bool = False
    order_id: str | None = None
    expected_version: int | None = None
    # Whom the order is for (both or neither): a guest's only way to be reached.
    contact_name: str | None = None
    contact_email: str | None = None


@dataclass(frozen=True, kw_only=True)
class CancelOrder(Command):
    order_id: str
    customer: str
    admin: bool = False
    expected_version: int | None = None
