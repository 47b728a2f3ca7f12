"""Queries answered by the order-view read model."""

from __future__ import annotations

from catalog.domain.errors import NotFound, NotOwner
from catalog.read_models.order_view import sqlite as order_view
from catalog.read_models.queries import GetOrder
from catalog.read_models.shapes import Order
from tandem.bus import QueryBus
from tandem.db.sqlite import SqliteReader


class OrderViewReads:
    """One order; only the customer who placed it or an admin may read it."""

    def __init__(self, reader: SqliteReader) -> None:
        self._reader = reader

    async def get_order(self, query: GetOrder) -> Order:
        # A primary-key read on a local file: cheaper inline than a thread hop.
        order = self._reader.call(lambda c: order_view.fetch(c, query.order_id))
        if order is None:
            raise NotFound("order", query.order_id)
        if not query.admin and query.customer != order["customer"]:
            raise NotOwner(f"order {query.order_id} belongs to another customer")
        return order

    def register(self, bus: QueryBus) -> None:
        bus.register(GetOrder, self.get_order, read_model=order_view.OrderViewProjection.name)
