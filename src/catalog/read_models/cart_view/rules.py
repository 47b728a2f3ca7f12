"""What the cart view means, whatever store keeps it.

Every store keeps a cart's lines as (product, quantity) and each product's name and
price once, joined when a cart is read; this module says which events that takes and
what the joined rows make as the document a shopper reads.
"""

from __future__ import annotations

from collections.abc import Iterable

from catalog.read_models.money import from_cents
from catalog.read_models.shapes import Cart, CartLine

EVENT_TYPES = frozenset(
    {
        "CartOpened",
        "CartItemAdded",
        "CartItemRemoved",
        "CartCheckedOut",
        "ProductCreated",
        "ProductDetailsUpdated",
        "PriceChanged",
    }
)

# One cart line joined to its product: (product id, name, price in cents, currency,
# quantity); name, price and currency are None for a product the view never saw.
LineRow = tuple[str, str | None, int | None, str | None, int]


def _line_order(row: LineRow) -> tuple[bool, str, str]:
    # By name, then product id; a product never seen (no name) first, as SQL sorts NULL.
    return (row[1] is not None, row[1] or "", row[0])


def cart_document(cart_id: str, owner: str, rows: Iterable[LineRow]) -> Cart:
    """The cart priced at its products' current prices, lines sorted by name."""
    lines: list[CartLine] = []
    subtotal = 0
    currencies: set[str] = set()
    for product_id, name, price_cents, currency, quantity in sorted(rows, key=_line_order):
        unit = price_cents or 0
        subtotal += unit * quantity
        if currency is not None:
            currencies.add(currency)
        lines.append(
            {
                "product_id": product_id,
                "name": name or "",
                "unit_price": from_cents(unit),
                "quantity": quantity,
                "line_total": from_cents(unit * quantity),
            }
        )
    return {
        "id": cart_id,
        "owner": owner,
        "lines": lines,
        "subtotal": from_cents(subtotal),
        # An empty cart has no currency yet; a cart mixing currencies cannot be priced as
        # one (checkout refuses it too), so both answer null rather than a guess.
        "currency": currencies.pop() if len(currencies) == 1 else None,
    }
