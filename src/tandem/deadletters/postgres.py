"""Dead letters of the services profile, in the write database, with the migration
that creates their table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tandem.deadletters.base import DeadLetter, letter_from_row, new_row
from tandem.messages import StoredEvent
from tandem.migrations import Component, Migration

if TYPE_CHECKING:
    from tandem.db.postgres import Pool

MIGRATIONS = Component(
    "tandem_dead_letters",
    [
        Migration(
            1,
            "dead letters",
            """
            CREATE TABLE tandem_dead_letters (
                projection TEXT NOT NULL,
                position BIGINT NOT NULL,
                aggregate_id TEXT NOT NULL,
                event BYTEA NOT NULL,
                error TEXT NOT NULL,
                parked_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (projection, position)
            );
            """,
        )
    ],
)


class PostgresDeadLetters:
    """Dead letters of the services profile, in the write database."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def park(self, projection: str, event: StoredEvent, error: str) -> None:
        await self.pool.execute(
            "INSERT INTO tandem_dead_letters VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (projection, position) DO UPDATE SET error = excluded.error",
            *new_row(projection, event, error),
        )

    async def list(self, projection: str | None = None) -> list[DeadLetter]:
        if projection is None:
            rows = await self.pool.fetch("SELECT * FROM tandem_dead_letters ORDER BY position")
        else:
            rows = await self.pool.fetch(
                "SELECT * FROM tandem_dead_letters WHERE projection = $1 ORDER BY position",
                projection,
            )
        return [letter_from_row(tuple(row.values())) for row in rows]

    async def parked_aggregates(self, projection: str) -> set[str]:
        rows = await self.pool.fetch(
            "SELECT DISTINCT aggregate_id FROM tandem_dead_letters WHERE projection = $1",
            projection,
        )
        return {str(row[0]) for row in rows}

    async def remove(self, projection: str, positions: Sequence[int]) -> None:
        await self.pool.execute(
            "DELETE FROM tandem_dead_letters"
            " WHERE projection = $1 AND position = ANY($2::bigint[])",
            projection,
            list(positions),
        )

    async def forget_after(self, projection: str, checkpoint: int) -> None:
        await self.pool.execute(
            "DELETE FROM tandem_dead_letters WHERE projection = $1 AND position > $2",
            projection,
            checkpoint,
        )

    async def counts(self) -> dict[str, int]:
        rows = await self.pool.fetch(
            "SELECT projection, count(*) FROM tandem_dead_letters GROUP BY projection"
        )
        return {str(row[0]): int(row[1]) for row in rows}
