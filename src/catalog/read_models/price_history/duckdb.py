"""Price history: every price a product has had, from its creation on, with its time.

`at` is when the event was recorded in the log, as a UTC timestamp without a zone
(DuckDB's plain TIMESTAMP; converting zones would need the ICU extension). `position`
orders two changes recorded within the same microsecond.
"""

from __future__ import annotations

from catalog.read_models.price_history.rules import utc
from tandem.messages import StoredEvent
from tandem.projections.base import Projection
from tandem.stores.duckdb import DuckDBTransaction

TABLE = "price_history"

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    product_id TEXT NOT NULL,
    "at" TIMESTAMP NOT NULL,
    price DECIMAL(18, 2) NOT NULL,
    position BIGINT NOT NULL
)
"""


class PriceHistoryProjection(Projection[DuckDBTransaction]):
    """One row per price a product took: its initial price, then every change."""

    name = "price_history"
    version = 1
    event_types = frozenset({"ProductCreated", "PriceChanged"})

    def setup(self, tx: DuckDBTransaction) -> None:
        tx.execute(SCHEMA)

    def apply(self, tx: DuckDBTransaction, event: StoredEvent) -> None:
        tx.append(
            TABLE,
            (event.aggregate_id, utc(event.recorded_at), event.data["price"], event.position),
        )
