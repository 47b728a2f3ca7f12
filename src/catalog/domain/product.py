"""Products and their inventory: price, details, status and stock that never goes negative."""

from __future__ import annotations

from decimal import Decimal

from catalog.domain import values
from catalog.domain.errors import InsufficientStock, InvalidInput, ProductDiscontinued
from catalog.domain.events import (
    PriceChanged,
    ProductCreated,
    ProductDetailsUpdated,
    StockAdjusted,
)
from catalog.domain.events import (
    ProductDiscontinued as ProductDiscontinuedEvent,
)
from tandem.aggregate import Aggregate

ACTIVE = "active"
DISCONTINUED = "discontinued"
MAX_SKU = 64
MAX_NAME = 200
MAX_DESCRIPTION = 5000
MAX_REASON = 200


class Product(Aggregate):
    def __init__(
        self,
        id: str,
        *,
        sku: str,
        name: str,
        description: str,
        category_id: str,
        price: Decimal,
        currency: str,
        attributes: dict[str, str],
        stock: int,
        status: str = ACTIVE,
        version: int = 0,
    ) -> None:
        super().__init__(id, version)
        self.sku = sku
        self.name = name
        self.description = description
        self.category_id = category_id
        self.price = price
        self.currency = currency
        self.attributes = attributes
        self.stock = stock
        self.status = status

    @classmethod
    def create(
        cls,
        id: str,
        *,
        sku: str,
        name: str,
        description: str,
        category_id: str,
        price: Decimal | str,
        currency: str,
        attributes: dict[str, str],
        initial_stock: int,
    ) -> Product:
        if initial_stock < 0:
            raise InvalidInput("initial_stock", "must not be negative")
        if initial_stock > values.MAX_STOCK:
            raise InvalidInput("initial_stock", f"must be at most {values.MAX_STOCK}")
        product = cls(
            id,
            sku=values.text(sku, "sku", max_length=MAX_SKU),
            name=values.text(name, "name", max_length=MAX_NAME),
            description=values.text(
                description, "description", max_length=MAX_DESCRIPTION, required=False
            ),
            category_id=category_id,
            price=values.money(price),
            currency=values.currency(currency),
            attributes=values.attributes(attributes),
            stock=initial_stock,
        )
        product._record(
            ProductCreated(
                aggregate_id=id,
                sku=product.sku,
                name=product.name,
                description=product.description,
                category_id=category_id,
                price=product.price,
                currency=product.currency,
                attributes=product.attributes,
                stock=product.stock,
            )
        )
        return product

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    @property
    def label(self) -> str:
        """How a message to a shopper names the product: by its name, not its id."""
        return f"“{self.name}”"

    def _require_active(self) -> None:
        if not self.active:
            raise ProductDiscontinued(f"{self.label} is discontinued")

    def update_details(
        self,
        *,
        name: str | None,
        description: str | None,
        attributes: dict[str, str] | None,
        category_id: str | None,
    ) -> None:
        self._require_active()
        previous_category = self.category_id
        if name is not None:
            self.name = values.text(name, "name", max_length=MAX_NAME)
        if description is not None:
            self.description = values.text(
                description, "description", max_length=MAX_DESCRIPTION, required=False
            )
        if attributes is not None:
            self.attributes = values.attributes(attributes)
        if category_id is not None:
            self.category_id = category_id
        self._record(
            ProductDetailsUpdated(
                aggregate_id=self.id,
                name=self.name,
                description=self.description,
                attributes=self.attributes,
                category_id=self.category_id,
                previous_category_id=previous_category,
            )
        )

    def change_price(self, price: Decimal | str) -> None:
        self._require_active()
        new_price = values.money(price)
        previous = self.price
        self.price = new_price
        self._record(
            PriceChanged(
                aggregate_id=self.id,
                price=new_price,
                previous_price=previous,
                currency=self.currency,
            )
        )

    def adjust_stock(self, delta: int, reason: str) -> None:
        values.stock_delta(delta)
        reason = values.text(reason, "reason", max_length=MAX_REASON)
        if self.stock + delta < 0:
            raise InsufficientStock(
                f"product {self.id} has {self.stock} in stock; cannot remove {-delta}"
            )
        if self.stock + delta > values.MAX_STOCK:
            raise InvalidInput("delta", f"stock must stay at most {values.MAX_STOCK}")
        self.stock += delta
        self._record(
            StockAdjusted(aggregate_id=self.id, delta=delta, reason=reason, stock=self.stock)
        )

    def reserve(self, quantity: int, order_id: str) -> None:
        """Take stock for an order line; the whole order fails if any line cannot."""
        self._require_active()
        if quantity > self.stock:
            raise InsufficientStock(
                f"{self.label} has {self.stock} in stock; the order needs {quantity}"
            )
        self.adjust_stock(-quantity, f"order {order_id}")

    def discontinue(self) -> None:
        self._require_active()
        self.status = DISCONTINUED
        self._record(ProductDiscontinuedEvent(aggregate_id=self.id))
