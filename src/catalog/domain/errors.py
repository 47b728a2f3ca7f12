"""The catalog's business-rule failures; the HTTP edge maps each `code` to a problem type."""

from __future__ import annotations


class DomainError(Exception):
    """A command broke a business rule; nothing was changed."""

    code = "domain-error"


class InvalidInput(DomainError):
    """A value is outside what the domain accepts (negative price, empty name…)."""

    code = "invalid-input"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(DomainError):
    """The addressed aggregate does not exist."""

    code = "not-found"

    def __init__(self, kind: str, id: str) -> None:
        super().__init__(f"{kind} {id} does not exist")
        self.kind = kind
        self.id = id


class DuplicateSku(DomainError):
    """Another product already uses this SKU."""

    code = "duplicate-sku"


class DuplicateId(DomainError):
    """An aggregate with the client-supplied id already exists."""

    code = "duplicate-id"


class InsufficientStock(DomainError):
    """The change would take a product's stock below zero."""

    code = "insufficient-stock"


class ProductDiscontinued(DomainError):
    """The product is discontinued and cannot be changed or sold."""

    code = "product-discontinued"


class EmptyCart(DomainError):
    """A cart with no lines cannot be checked out."""

    code = "empty-cart"


class NotInCart(DomainError):
    """The cart has no line for that product."""

    code = "not-in-cart"


class MixedCurrencies(DomainError):
    """An order's lines must share one currency."""

    code = "mixed-currencies"


class OrderNotCancellable(DomainError):
    """The order is already cancelled."""

    code = "order-not-cancellable"


class NotOwner(DomainError):
    """The cart or order belongs to another customer."""

    code = "not-owner"


class CategoryCycle(DomainError):
    """A category cannot be its own ancestor."""

    code = "category-cycle"
