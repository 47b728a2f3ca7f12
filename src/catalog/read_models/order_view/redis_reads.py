"""`GetOrder` answered from the Redis order view (services profile), with the same
document and `NotFound` / `NotOwner` as the SQLite reads."""

from __future__ import annotations

from typing import cast

import orjson

from catalog.domain.errors import NotFound, NotOwner
from catalog.read_models.order_view.redis import RedisOrderViewProjection, order_key
from catalog.read_models.order_view.rules import contact_of, order_document
from catalog.read_models.queries import GetOrder
from catalog.read_models.redis_common import RedisReads, text_hash
from catalog.read_models.shapes import Order, OrderStatus
from tandem.bus import QueryBus


class RedisOrderViewReads(RedisReads):
    """One order; only the customer who placed it or an admin may read it."""

    projection = RedisOrderViewProjection

    async def get_order(self, query: GetOrder) -> Order:
        raw = await self._client.hgetall(self.key(order_key(query.order_id)))
        if not raw:
            raise NotFound("order", query.order_id)
        row = text_hash(raw)
        order = order_document(
            query.order_id,
            row["customer"],
            cast(OrderStatus, row["status"]),
            orjson.loads(row["lines"]),
            row["total"],
            row["currency"],
            float(row["placed_at"]),
            contact_of(row.get("contact")),
        )
        if not query.admin and query.customer != order["customer"]:
            raise NotOwner(f"order {query.order_id} belongs to another customer")
        return order

    def register(self, bus: QueryBus) -> None:
        bus.register(GetOrder, self.get_order, read_model=self.projection.name)
