"""`PriceHistory` answered from the DuckDB price-history read model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from catalog.domain.errors import NotFound
from catalog.read_models.price_history.duckdb import PriceHistoryProjection
from catalog.read_models.price_history.rules import points
from catalog.read_models.queries import PriceHistory as PriceHistoryQuery
from catalog.read_models.shapes import PriceHistory, PricePoint
from tandem.bus import QueryBus

if TYPE_CHECKING:
    import duckdb

    from tandem.stores.duckdb import DuckDBProjectionStore


def price_points(cur: duckdb.DuckDBPyConnection, product_id: str) -> list[PricePoint]:
    """The product's prices, oldest first, each with its UTC time in ISO 8601."""
    return points(
        cur.execute(
            'SELECT "at", price FROM price_history WHERE product_id = ? ORDER BY "at", position',
            (product_id,),
        ).fetchall()
    )


class PriceHistoryReads:
    """A product's prices over time from the `price_history` read model."""

    def __init__(self, store: DuckDBProjectionStore) -> None:
        self._store = store

    async def price_history(self, query: PriceHistoryQuery) -> PriceHistory:
        product_id = query.product_id
        found = await self._store.run(lambda c: price_points(c, product_id))
        if not found:
            raise NotFound("product", product_id)
        return {"product_id": product_id, "points": found}

    def register(self, bus: QueryBus) -> None:
        bus.register(PriceHistoryQuery, self.price_history, read_model=PriceHistoryProjection.name)
