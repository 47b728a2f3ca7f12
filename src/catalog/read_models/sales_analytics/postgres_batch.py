"""One batch of sales events, folded in memory into what the PostgreSQL tables receive.

`SalesBatch.fold` walks the batch in order: the lines of each order placed (an order
placed and cancelled within the batch has its lines stored already cancelled, and never
counts), the orders placed before the batch that it cancels, and the categories' newest
names. `totals` sums lines into the rollups' rows, once per order in each row, which is
what `COUNT(DISTINCT order_id)` over the lines of that row gives.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from tandem.messages import StoredEvent


def sale_day(placed_at: float) -> date:
    """The UTC day an order placed at `placed_at` (epoch seconds) counts on."""
    return datetime.fromtimestamp(placed_at, UTC).date()


@dataclass(frozen=True)
class Line:
    """One order line as the fact table keeps it."""

    order_id: str
    day: date
    category_id: str
    product_id: str
    name: str
    units: int
    revenue: Decimal
    position: int


@dataclass
class Totals:
    """What a set of orders adds to one rollup row."""

    orders: set[str] = field(default_factory=set)
    units: int = 0
    revenue: Decimal = Decimal(0)
    # The newest line's product name and position (product rows only).
    name: str | None = None
    position: int = 0

    def add(self, line: Line) -> None:
        self.orders.add(line.order_id)
        self.units += line.units
        self.revenue += line.revenue
        if line.position >= self.position:
            self.name, self.position = line.name, line.position


def totals(lines: Iterable[Line], key: Any) -> dict[Any, Totals]:
    """The lines summed per `key(line)`."""
    rows: dict[Any, Totals] = {}
    for line in lines:
        rows.setdefault(key(line), Totals()).add(line)
    return rows


@dataclass
class SalesBatch:
    """The effect of one batch, ready to be written in bulk."""

    # Lines of the orders placed in the batch, by order, in order of placement.
    placed: dict[str, list[Line]] = field(default_factory=dict)
    # Orders placed in this batch and cancelled in it too.
    cancelled_here: set[str] = field(default_factory=set)
    # Orders placed before this batch that it cancels.
    cancelled_before: list[str] = field(default_factory=list)
    # Categories created or renamed, with their newest names.
    categories: dict[str, str] = field(default_factory=dict)

    @classmethod
    def fold(cls, events: Iterable[StoredEvent]) -> SalesBatch:
        batch = cls()
        for event in events:
            data = event.data
            if event.type == "OrderPlaced":
                day = sale_day(data["placed_at"])
                batch.placed[event.aggregate_id] = [
                    Line(
                        event.aggregate_id,
                        day,
                        line["category_id"],
                        line["product_id"],
                        line["name"],
                        int(line["quantity"]),
                        Decimal(str(line["line_total"])),
                        event.position,
                    )
                    for line in data["lines"]
                ]
            elif event.type == "OrderCancelled":
                if event.aggregate_id in batch.placed:
                    batch.cancelled_here.add(event.aggregate_id)
                else:
                    batch.cancelled_before.append(event.aggregate_id)
            else:  # CategoryCreated, CategoryRenamed
                batch.categories[event.aggregate_id] = data["name"]
        return batch

    def new_lines(self) -> list[tuple[Line, bool]]:
        """Every line placed in the batch, with whether its order is cancelled already."""
        return [
            (line, order in self.cancelled_here)
            for order, lines in self.placed.items()
            for line in lines
        ]

    def counted(self) -> list[Line]:
        """The lines placed in the batch that count (their order is not cancelled)."""
        return [line for line, cancelled in self.new_lines() if not cancelled]
