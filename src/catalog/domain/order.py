"""Orders: checkout captures prices and takes stock for every line, or fails as a whole."""

from __future__ import annotations

import time
from decimal import Decimal

from catalog.domain.cart import Cart
from catalog.domain.contact import Contact
from catalog.domain.errors import InvalidInput, MixedCurrencies, NotOwner, OrderNotCancellable
from catalog.domain.events import OrderCancelled, OrderLine, OrderPlaced
from catalog.domain.product import Product
from tandem.aggregate import Aggregate

PLACED = "placed"
CANCELLED = "cancelled"


class Order(Aggregate):
    def __init__(
        self,
        id: str,
        *,
        cart_id: str,
        customer: str,
        lines: tuple[OrderLine, ...],
        total: Decimal,
        currency: str,
        placed_at: float,
        status: str = PLACED,
        contact: Contact | None = None,
        version: int = 0,
    ) -> None:
        super().__init__(id, version)
        self.contact = contact
        self.cart_id = cart_id
        self.customer = customer
        self.lines = lines
        self.total = total
        self.currency = currency
        self.placed_at = placed_at
        self.status = status

    @classmethod
    def place(
        cls,
        id: str,
        cart: Cart,
        products: dict[str, Product],
        contact: Contact | None = None,
    ) -> Order:
        """Check out `cart` for `contact`: every line is reserved from stock at its
        current price.

        Any line that cannot be served raises before anything is recorded on the order;
        the caller's transaction then discards the stock taken for earlier lines.
        """
        wanted = cart.require_lines()
        currencies = {products[pid].currency for pid in wanted}
        if len(currencies) != 1:
            raise MixedCurrencies(f"cart {cart.id} mixes {sorted(currencies)}")
        lines: list[OrderLine] = []
        for product_id, quantity in sorted(wanted.items()):
            product = products[product_id]
            product.reserve(quantity, id)
            lines.append(
                OrderLine(
                    product_id=product.id,
                    sku=product.sku,
                    name=product.name,
                    category_id=product.category_id,
                    quantity=quantity,
                    unit_price=product.price,
                    line_total=product.price * quantity,
                )
            )
        total = sum((line.line_total for line in lines), Decimal("0.00"))
        order = cls(
            id,
            cart_id=cart.id,
            customer=cart.owner,
            lines=tuple(lines),
            total=total,
            currency=currencies.pop(),
            placed_at=time.time(),
            contact=contact,
        )
        order._record(
            OrderPlaced(
                aggregate_id=id,
                cart_id=cart.id,
                customer=cart.owner,
                lines=order.lines,
                total=total,
                currency=order.currency,
                placed_at=order.placed_at,
                contact_name=contact.name if contact else None,
                contact_email=contact.email if contact else None,
            )
        )
        cart.checked_out(id)
        return order

    def check_owner(self, customer: str, admin: bool) -> None:
        if not admin and customer != self.customer:
            raise NotOwner(f"order {self.id} belongs to another customer")

    def cancel(self, products: dict[str, Product]) -> None:
        if self.status != PLACED:
            raise OrderNotCancellable(f"order {self.id} is {self.status}")
        for line in self.lines:
            product = products.get(line.product_id)
            if product is None:
                raise InvalidInput("order", f"product {line.product_id} is missing")
            product.adjust_stock(line.quantity, f"order {self.id} cancelled")
        self.status = CANCELLED
        self._record(
            OrderCancelled(
                aggregate_id=self.id,
                customer=self.customer,
                lines=self.lines,
                total=self.total,
                placed_at=self.placed_at,
            )
        )
