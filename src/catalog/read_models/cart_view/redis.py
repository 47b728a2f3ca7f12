"""Cart view on Redis: each cart's lines, priced at the product's current price.

As in the SQLite fold, lines keep only (product, quantity) and each product's name and
price live once, joined when a cart is read: a price change of a popular product stays
one write instead of a rewrite of every cart holding it. Keys (relative to the
projection's namespace):

- `cart:{id}`: the owner, present once the cart was opened;
- `lines:{id}`: hash of product id to quantity;
- `product:{id}`: hash of `name`, `price_cents`, `currency`.

Every event is O(1) buffered writes and no read: a product update is `hset_existing`,
SQL's `UPDATE … WHERE id = ?`, evaluated inside the commit script.
"""

from __future__ import annotations

from catalog.read_models.cart_view.rules import EVENT_TYPES
from catalog.read_models.money import cents
from tandem.messages import StoredEvent
from tandem.projections.base import AsyncProjection
from tandem.stores.redis import RedisTx


def cart_key(cart_id: str) -> str:
    return f"cart:{cart_id}"


def lines_key(cart_id: str) -> str:
    return f"lines:{cart_id}"


def product_key(product_id: str) -> str:
    return f"product:{product_id}"


class RedisCartViewProjection(AsyncProjection[RedisTx]):
    """The SQLite `CartViewProjection`, folded into Redis keys."""

    name = "cart_view"
    version = 1
    event_types = EVENT_TYPES

    async def setup(self, tx: RedisTx) -> None:
        """Nothing to create: Redis keys appear with their first write."""

    async def apply(self, tx: RedisTx, event: StoredEvent) -> None:
        data = event.data
        id = event.aggregate_id
        if event.type == "CartOpened":
            tx.set(cart_key(id), data["owner"])
        elif event.type == "CartItemAdded":
            # line_quantity is the line's new total, so the write needs no earlier state.
            tx.hset(lines_key(id), {data["product_id"]: data["line_quantity"]})
        elif event.type == "CartItemRemoved":
            tx.hdel(lines_key(id), data["product_id"])
        elif event.type == "CartCheckedOut":
            tx.delete(lines_key(id))
        elif event.type == "ProductCreated":
            # Every field is written, so this replaces the hash like INSERT OR REPLACE.
            tx.hset(
                product_key(id),
                {
                    "name": data["name"],
                    "price_cents": cents(data["price"]),
                    "currency": data["currency"],
                },
            )
        elif event.type == "ProductDetailsUpdated":
            tx.hset_existing(product_key(id), {"name": data["name"]})
        elif event.type == "PriceChanged":
            tx.hset_existing(
                product_key(id),
                {"price_cents": cents(data["price"]), "currency": data["currency"]},
            )
