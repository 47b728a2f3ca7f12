"""Queries answered by the cart-view read model."""

from __future__ import annotations

from catalog.domain.errors import NotFound, NotOwner
from catalog.read_models.cart_view import sqlite as cart_view
from catalog.read_models.queries import GetCart
from catalog.read_models.shapes import Cart
from tandem.bus import QueryBus
from tandem.db.sqlite import SqliteReader


class CartViewReads:
    """A customer's cart, priced now; only its owner or an admin may read it."""

    def __init__(self, reader: SqliteReader) -> None:
        self._reader = reader

    async def get_cart(self, query: GetCart) -> Cart:
        # At most a hundred primary-key lookups on a local file: cheaper inline than a
        # thread hop.
        cart = self._reader.call(lambda c: cart_view.fetch(c, query.cart_id))
        if cart is None:
            raise NotFound("cart", query.cart_id)
        if not query.admin and query.customer != cart["owner"]:
            raise NotOwner(f"cart {query.cart_id} belongs to another customer")
        return cart

    def register(self, bus: QueryBus) -> None:
        bus.register(GetCart, self.get_cart, read_model=cart_view.CartViewProjection.name)
