"""`GetCart` answered from the Redis cart view (services profile), with the same
document and `NotFound` / `NotOwner` as the SQLite reads.

The owner and the lines are read in one MULTI/EXEC pipeline; the cart then joins its
products in a second round trip: a price committed between the two is newer than the
lines, never older, so an answer still reflects at least the version the query waited
for.
"""

from __future__ import annotations

from catalog.domain.errors import NotFound, NotOwner
from catalog.read_models.cart_view import redis as cart_view
from catalog.read_models.cart_view.rules import LineRow, cart_document
from catalog.read_models.queries import GetCart
from catalog.read_models.redis_common import RedisReads, text, text_hash
from catalog.read_models.shapes import Cart
from tandem.bus import QueryBus
from tandem.stores.redis import as_bytes


class RedisCartViewReads(RedisReads):
    """A customer's cart, priced now; only its owner or an admin may read it."""

    projection = cart_view.RedisCartViewProjection

    async def get_cart(self, query: GetCart) -> Cart:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.get(self.key(cart_view.cart_key(query.cart_id)))
            pipe.hgetall(self.key(cart_view.lines_key(query.cart_id)))
            owner, lines = await pipe.execute()
        if owner is None:
            raise NotFound("cart", query.cart_id)
        cart = await self._priced(query.cart_id, as_bytes(owner).decode(), text_hash(lines))
        if not query.admin and query.customer != cart["owner"]:
            raise NotOwner(f"cart {query.cart_id} belongs to another customer")
        return cart

    async def _priced(self, cart_id: str, owner: str, lines: dict[str, str]) -> Cart:
        """The cart with each line joined to its product, as `cart_view.fetch` answers."""
        product_ids = list(lines)
        async with self._client.pipeline(transaction=True) as pipe:
            for product_id in product_ids:
                pipe.hmget(
                    self.key(cart_view.product_key(product_id)),
                    ["name", "price_cents", "currency"],
                )
            products = await pipe.execute()
        rows: list[LineRow] = [
            (pid, text(name), int(price or 0), text(currency), int(lines[pid]))
            for pid, (name, price, currency) in zip(product_ids, products, strict=True)
        ]
        return cart_document(cart_id, owner, rows)

    def register(self, bus: QueryBus) -> None:
        bus.register(GetCart, self.get_cart, read_model=self.projection.name)
