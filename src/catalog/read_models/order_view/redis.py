"""Order view on Redis: one order per hash, lines and prices as captured at checkout.

`order:{id}` (relative to the projection's namespace) holds `customer`, `status`,
`total`, `currency`, `placed_at` (the float's repr, exact), `lines` (the JSON of the
display-ready lines, which never change after checkout) and `contact` (its JSON, or
empty when the checkout gave none; absent from orders placed before it was kept). A
cancellation only moves the status, with `hset_existing` (SQL's `UPDATE … WHERE id =
?`): no read, O(1).
"""

from __future__ import annotations

import orjson

from catalog.read_models.money import two_decimals
from catalog.read_models.order_view.rules import (
    CANCELLED,
    EVENT_TYPES,
    PLACED,
    display_line,
    stored_contact,
)
from tandem.messages import StoredEvent
from tandem.projections.base import AsyncProjection
from tandem.stores.redis import RedisTx


def order_key(order_id: str) -> str:
    return f"order:{order_id}"


class RedisOrderViewProjection(AsyncProjection[RedisTx]):
    """The SQLite `OrderViewProjection`, folded into Redis keys."""

    name = "order_view"
    version = 1
    event_types = EVENT_TYPES

    async def setup(self, tx: RedisTx) -> None:
        """Nothing to create: Redis keys appear with their first write."""

    async def apply(self, tx: RedisTx, event: StoredEvent) -> None:
        data = event.data
        if event.type == "OrderPlaced":
            # Every field is written, so this replaces the hash like INSERT OR REPLACE.
            tx.hset(
                order_key(event.aggregate_id),
                {
                    "customer": data["customer"],
                    "status": PLACED,
                    "total": two_decimals(data["total"]),
                    "currency": data["currency"],
                    "placed_at": repr(float(data["placed_at"])),
                    "lines": orjson.dumps([display_line(line) for line in data["lines"]]),
                    "contact": stored_contact(data) or "",
                },
            )
        elif event.type == "OrderCancelled":
            tx.hset_existing(order_key(event.aggregate_id), {"status": CANCELLED})
