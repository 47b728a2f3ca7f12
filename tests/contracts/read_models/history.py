"""The fixed history every backend of the read-model contract answers for.

Written through a real command bus, with the client-chosen ids the commands allow, so
every id in the expectations is a constant. What the catalog picks itself (when an
order was placed, when a price was recorded) is read back from the event log into
`Written`.

The story, in command order (a product's version counts its events):

- categories Shoes > Running > Trail, Shoes > Boots, Bags, Empty;
- products: Trail runner (Trail, 19.99, 3 in stock), Road runner (Running, 50.00,
  none), Hiking boot (Boots, 120.55, 7), Canvas tote (Bags, 5.00, 6), Garden clog
  (Boots, 24.99, none);
- the runner re-priced to 17.50, the road runner restocked with 5, Shoes renamed
  Footwear, the boot renamed Mountain boot and moved to Trail, the road runner
  discontinued;
- alice's cart: runner 1, tote 2, runner 2 more (stays open); bob's cart: a tote added
  and removed; dave orders 2 boots and a tote; erin orders a runner and cancels;
- the tote re-priced to 6.10; carol orders a tote; the runner renamed All-terrain
  runner; Bags renamed Luggage.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from catalog.domain import commands as c
from tandem.messages import StoredEvent

Dispatch = Callable[[Any], Awaitable[Any]]

# Categories (siblings sort by name, so ids never decide an order here).
SHOES = "c0000000-0000-4000-8000-000000000001"  # renamed Footwear
RUNNING = "c0000000-0000-4000-8000-000000000002"
TRAIL = "c0000000-0000-4000-8000-000000000003"
BOOTS = "c0000000-0000-4000-8000-000000000004"
BAGS = "c0000000-0000-4000-8000-000000000005"  # renamed Luggage
EMPTY = "c0000000-0000-4000-8000-000000000006"

# Products, numbered in creation order; an order's lines sort by product id.
RUNNER = "b0000000-0000-4000-8000-000000000001"
ROAD = "b0000000-0000-4000-8000-000000000002"
BOOT = "b0000000-0000-4000-8000-000000000003"
TOTE = "b0000000-0000-4000-8000-000000000004"
CLOG = "b0000000-0000-4000-8000-000000000005"

ALICE_CART = "ca000000-0000-4000-8000-000000000001"
BOB_CART = "ca000000-0000-4000-8000-000000000002"
DAVE_CART = "ca000000-0000-4000-8000-000000000003"
ERIN_CART = "ca000000-0000-4000-8000-000000000004"
CAROL_CART = "ca000000-0000-4000-8000-000000000005"

DAVE_ORDER = "d0000000-0000-4000-8000-000000000001"
ERIN_ORDER = "d0000000-0000-4000-8000-000000000002"  # cancelled
CAROL_ORDER = "d0000000-0000-4000-8000-000000000003"

UNKNOWN = "e0000000-0000-4000-8000-00000000dead"


async def write_history(send: Dispatch) -> int:
    """Send the history's commands, in order, through `send` (a command bus's dispatch);
    returns the log version of the last one."""
    versions: list[int] = []

    async def dispatch(command: Any) -> None:
        versions.append((await send(command)).version)

    async def product(
        id: str,
        sku: str,
        name: str,
        description: str,
        category: str,
        price: str,
        stock: int,
        attributes: dict[str, str] | None = None,
    ) -> None:
        await dispatch(
            c.CreateProduct(
                id=id,
                sku=sku,
                name=name,
                description=description,
                category_id=category,
                price=Decimal(price),
                attributes=attributes or {},
                initial_stock=stock,
            )
        )

    async def add(cart: str, product_id: str, quantity: int, customer: str) -> None:
        await dispatch(
            c.AddToCart(cart_id=cart, product_id=product_id, quantity=quantity, customer=customer)
        )

    await dispatch(c.CreateCategory(id=SHOES, name="Shoes"))
    await dispatch(c.CreateCategory(id=RUNNING, name="Running", parent_id=SHOES))
    await dispatch(c.CreateCategory(id=TRAIL, name="Trail", parent_id=RUNNING))
    await dispatch(c.CreateCategory(id=BOOTS, name="Boots", parent_id=SHOES))
    await dispatch(c.CreateCategory(id=BAGS, name="Bags"))
    await dispatch(c.CreateCategory(id=EMPTY, name="Empty"))

    await product(
        RUNNER, "TR-1", "Trail runner", "Light and grippy", TRAIL, "19.99", 3, {"colour": "red"}
    )
    await product(ROAD, "RR-1", "Road runner", "Fast on asphalt", RUNNING, "50.00", 0)
    await product(
        BOOT, "HB-1", "Hiking boot", "Waterproof leather", BOOTS, "120.55", 7, {"colour": "brown"}
    )
    await product(TOTE, "CT-1", "Canvas tote", "Sturdy cotton", BAGS, "5.00", 6)
    await product(CLOG, "GC-1", "Garden clog", "Rubber, for the garden", BOOTS, "24.99", 0)

    await dispatch(c.ChangePrice(product_id=RUNNER, price=Decimal("17.5")))
    await dispatch(c.AdjustStock(product_id=ROAD, delta=5, reason="delivery"))
    await dispatch(c.RenameCategory(category_id=SHOES, name="Footwear"))
    await dispatch(
        c.UpdateProductDetails(
            product_id=BOOT, name="Mountain boot", attributes={"size": "44"}, category_id=TRAIL
        )
    )
    await dispatch(c.DiscontinueProduct(product_id=ROAD))

    await add(ALICE_CART, RUNNER, 1, "alice")
    await add(ALICE_CART, TOTE, 2, "alice")
    await add(ALICE_CART, RUNNER, 2, "alice")
    await add(BOB_CART, TOTE, 1, "bob")
    await dispatch(c.RemoveFromCart(cart_id=BOB_CART, product_id=TOTE, customer="bob"))
    await add(DAVE_CART, BOOT, 2, "dave")
    await add(DAVE_CART, TOTE, 1, "dave")
    await dispatch(
        c.PlaceOrder(
            cart_id=DAVE_CART,
            customer="dave",
            order_id=DAVE_ORDER,
            contact_name="Dave Doe",
            contact_email="dave@example.com",
        )
    )
    await add(ERIN_CART, RUNNER, 1, "erin")
    await dispatch(c.PlaceOrder(cart_id=ERIN_CART, customer="erin", order_id=ERIN_ORDER))
    await dispatch(c.CancelOrder(order_id=ERIN_ORDER, customer="erin"))

    await dispatch(c.ChangePrice(product_id=TOTE, price=Decimal("6.10")))
    await add(CAROL_CART, TOTE, 1, "carol")
    await dispatch(c.PlaceOrder(cart_id=CAROL_CART, customer="carol", order_id=CAROL_ORDER))
    await dispatch(c.UpdateProductDetails(product_id=RUNNER, name="All-terrain runner"))
    await dispatch(c.RenameCategory(category_id=BAGS, name="Luggage"))
    return max(versions)


@dataclass(frozen=True)
class Written:
    """The history as one write database recorded it: its whole event log."""

    events: Sequence[StoredEvent]

    def placed_at(self, order_id: str) -> float:
        """When the order was placed (epoch seconds), as its `OrderPlaced` says."""
        (placed,) = [
            e for e in self.events if e.type == "OrderPlaced" and e.aggregate_id == order_id
        ]
        return float(placed.data["placed_at"])

    def price_times(self, product_id: str) -> list[float]:
        """When each price of the product was recorded: its creation, then each change."""
        return [
            e.recorded_at
            for e in self.events
            if e.aggregate_id == product_id and e.type in ("ProductCreated", "PriceChanged")
        ]
