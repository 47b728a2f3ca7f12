"""`PriceHistory` answered from the price history in the PostgreSQL read database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from catalog.domain.errors import NotFound
from catalog.read_models.price_history.postgres import (
    PostgresPriceHistoryProjection,
    points_table,
)
from catalog.read_models.price_history.rules import points
from catalog.read_models.queries import PriceHistory as PriceHistoryQuery
from catalog.read_models.shapes import PriceHistory
from tandem.bus import QueryBus
from tandem.stores.postgres import table_prefix, tables_ready

if TYPE_CHECKING:
    from tandem.db.postgres import Pool


class PostgresPriceHistoryReads:
    """A product's prices over time from one copy of the `price_history` read model."""

    def __init__(self, pool: Pool, stored: type[Any] = PostgresPriceHistoryProjection) -> None:
        self._pool = pool
        table = points_table(table_prefix(stored))
        self._statement = (
            f'SELECT "at", price FROM {table} WHERE product_id = $1 ORDER BY "at", position'
        )

    async def price_history(self, query: PriceHistoryQuery) -> PriceHistory:
        product_id = query.product_id
        with tables_ready(PostgresPriceHistoryProjection.name):
            found = points(await self._pool.fetch(self._statement, product_id))
        if not found:
            raise NotFound("product", product_id)
        return {"product_id": product_id, "points": found}

    def register(self, bus: QueryBus) -> None:
        bus.register(
            PriceHistoryQuery, self.price_history, read_model=PostgresPriceHistoryProjection.name
        )
