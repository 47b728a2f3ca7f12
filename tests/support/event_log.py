"""Hand-made stored events of the catalog for tests of read models and their caches:
positions and aggregate versions counted as a log would."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tandem.consistency import VersionWatch
from tandem.messages import StoredEvent


@dataclass
class Status:
    """A read model as a process follows it: its checkpoint, state and `went_back`."""

    checkpoint: VersionWatch = field(default_factory=VersionWatch)
    state: str = "live"
    went_back: bool = False


# A small catalog: Lamps > Desk, and Bags.
LAMPS = "c0000000-0000-4000-8000-000000000001"
DESK = "c0000000-0000-4000-8000-000000000002"
BAGS = "c0000000-0000-4000-8000-000000000003"


class Log:
    """Events of one test, with positions and aggregate versions counted."""

    def __init__(self) -> None:
        self.position = 0
        self.versions: dict[str, int] = {}

    def event(self, type: str, id: str, data: dict[str, Any]) -> StoredEvent:
        self.position += 1
        self.versions[id] = self.versions.get(id, 0) + 1
        aggregate = "category" if type.startswith("Category") else "product"
        return StoredEvent(
            self.position, type, 1, aggregate, id, self.versions[id], 0.0, "c", "c", data
        )

    def category(self, id: str, name: str, parent_id: str | None = None) -> StoredEvent:
        data = {"name": name, "slug": name.lower(), "parent_id": parent_id}
        return self.event("CategoryCreated", id, data)

    def product(self, id: str, category_id: str, name: str, price: str = "1.00") -> StoredEvent:
        data = {
            "sku": f"S-{id[-4:]}",
            "name": name,
            "description": "",
            "category_id": category_id,
            "price": price,
            "currency": "USD",
            "stock": 1,
            "attributes": {},
        }
        return self.event("ProductCreated", id, data)

    def shop(self, products: dict[str, tuple[str, str]]) -> list[StoredEvent]:
        """The small catalog's categories, then `products` (id: (category, name))."""
        history = [self.category(LAMPS, "Lamps"), self.category(DESK, "Desk", LAMPS)]
        history.append(self.category(BAGS, "Bags"))
        return history + [self.product(id, c, name) for id, (c, name) in products.items()]

    def details(self, id: str, category_id: str, name: str, description: str = "") -> StoredEvent:
        data = {"name": name, "description": description, "category_id": category_id}
        return self.event("ProductDetailsUpdated", id, {**data, "attributes": {}})

    def price(self, id: str, price: str) -> StoredEvent:
        return self.event("PriceChanged", id, {"price": price, "currency": "USD"})

    def stock(self, id: str, stock: int) -> StoredEvent:
        return self.event("StockAdjusted", id, {"stock": stock, "delta": 0, "reason": "count"})
