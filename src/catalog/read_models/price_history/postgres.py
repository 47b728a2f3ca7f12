"""Price history on PostgreSQL: every price a product has had, in the read database.

The services profile's workers fold it once for every API process (`postgres_reads`
answers from it); the embedded profile keeps `catalog.read_models.price_history.duckdb`,
with the same rows: `at` when the event was recorded, as a UTC TIMESTAMP without a zone,
and `position` ordering two changes recorded within the same microsecond. A batch is one
COPY. The table's name starts with `price_history_v1_` (`table_prefix`), so a rebuild
builds its table beside this one.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from catalog.read_models.price_history.duckdb import PriceHistoryProjection
from catalog.read_models.price_history.rules import utc
from tandem.messages import StoredEvent
from tandem.projections.base import AsyncProjection
from tandem.stores.postgres import table_prefix

if TYPE_CHECKING:
    from tandem.db.postgres import Connection


def points_table(prefix: str) -> str:
    return f"{prefix}_points"


class PostgresPriceHistoryProjection(AsyncProjection["Connection"]):
    """One row per price a product took: its initial price, then every change."""

    name = PriceHistoryProjection.name
    version = 1
    event_types = PriceHistoryProjection.event_types

    def __init__(self) -> None:
        self.table = points_table(table_prefix(self))

    async def setup(self, tx: Connection) -> None:
        await tx.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {self.table} (
                product_id TEXT COLLATE "C" NOT NULL,
                "at" TIMESTAMP NOT NULL,
                price NUMERIC(18, 2) NOT NULL,
                position BIGINT NOT NULL
            )
            """
        )
        await tx.execute(
            f"CREATE INDEX IF NOT EXISTS {self.table}_product"
            f' ON {self.table} (product_id, "at", position)'
        )

    async def apply(self, tx: Connection, event: StoredEvent) -> None:
        await self.apply_batch(tx, [event])

    async def apply_batch(self, tx: Connection, events: list[StoredEvent]) -> None:
        await tx.copy_records_to_table(
            self.table,
            records=[
                (
                    event.aggregate_id,
                    utc(event.recorded_at),
                    Decimal(str(event.data["price"])),
                    event.position,
                )
                for event in events
            ],
            columns=("product_id", "at", "price", "position"),
        )
