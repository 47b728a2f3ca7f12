"""Carts: a customer's lines of products and quantities."""

from __future__ import annotations

from catalog.domain import values
from catalog.domain.errors import (
    EmptyCart,
    InsufficientStock,
    InvalidInput,
    NotInCart,
    NotOwner,
    ProductDiscontinued,
)
from catalog.domain.events import CartCheckedOut, CartItemAdded, CartItemRemoved, CartOpened
from catalog.domain.product import Product
from tandem.aggregate import Aggregate

MAX_LINES = 100


class Cart(Aggregate):
    def __init__(self, id: str, owner: str, lines: dict[str, int], version: int = 0) -> None:
        super().__init__(id, version)
        self.owner = owner
        self.lines = lines

    @classmethod
    def open(cls, id: str, owner: str) -> Cart:
        cart = cls(id, owner, {})
        cart._record(CartOpened(aggregate_id=id, owner=owner))
        return cart

    def check_owner(self, customer: str, admin: bool) -> None:
        if not admin and customer != self.owner:
            raise NotOwner(f"cart {self.id} belongs to another customer")

    def add(self, product: Product, quantity: int) -> None:
        values.quantity(quantity)
        if not product.active:
            raise ProductDiscontinued(f"{product.label} is discontinued")
        line = self.lines.get(product.id, 0) + quantity
        if line > values.MAX_QUANTITY:
            raise InvalidInput("quantity", f"a line holds at most {values.MAX_QUANTITY}")
        if product.id not in self.lines and len(self.lines) >= MAX_LINES:
            raise InvalidInput("product_id", f"a cart holds at most {MAX_LINES} lines")
        if line > product.stock:
            raise InsufficientStock(
                f"{product.label} has {product.stock} in stock; the cart would hold {line}"
            )
        self.lines[product.id] = line
        self._record(
            CartItemAdded(
                aggregate_id=self.id, product_id=product.id, quantity=quantity, line_quantity=line
            )
        )

    def remove(self, product_id: str) -> None:
        if product_id not in self.lines:
            raise NotInCart(f"cart {self.id} has no line for product {product_id}")
        del self.lines[product_id]
        self._record(CartItemRemoved(aggregate_id=self.id, product_id=product_id))

    def require_lines(self) -> dict[str, int]:
        if not self.lines:
            raise EmptyCart(f"cart {self.id} is empty")
        return dict(self.lines)

    def checked_out(self, order_id: str) -> None:
        self.lines = {}
        self._record(CartCheckedOut(aggregate_id=self.id, order_id=order_id))
