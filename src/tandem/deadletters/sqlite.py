"""Dead letters of the embedded profile, in a SQLite file of their own."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tandem.db.sqlite import SqliteDatabase, transaction
from tandem.deadletters.base import DeadLetter, letter_from_row, new_row
from tandem.messages import StoredEvent

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tandem_dead_letters (
    projection TEXT NOT NULL,
    position INTEGER NOT NULL,
    aggregate_id TEXT NOT NULL,
    event BLOB NOT NULL,
    error TEXT NOT NULL,
    parked_at REAL NOT NULL,
    PRIMARY KEY (projection, position)
)
"""


class SqliteDeadLetters:
    """Dead letters of the embedded profile, in a SQLite file of their own."""

    def __init__(self, path: str | Path) -> None:
        self.db = SqliteDatabase(path)
        self.db.call(lambda c: c.execute(_SCHEMA))

    async def park(self, projection: str, event: StoredEvent, error: str) -> None:
        def write(conn: Any) -> None:
            with transaction(conn):
                conn.execute(
                    "INSERT OR REPLACE INTO tandem_dead_letters VALUES (?, ?, ?, ?, ?, ?)",
                    new_row(projection, event, error),
                )

        await self.db.run(write)

    async def list(self, projection: str | None = None) -> list[DeadLetter]:
        sql = "SELECT * FROM tandem_dead_letters"
        args: tuple[Any, ...] = ()
        if projection is not None:
            sql, args = sql + " WHERE projection = ?", (projection,)
        rows = await self.db.run(lambda c: c.execute(sql + " ORDER BY position", args).fetchall())
        return [letter_from_row(row) for row in rows]

    async def parked_aggregates(self, projection: str) -> set[str]:
        rows = await self.db.run(
            lambda c: c.execute(
                "SELECT DISTINCT aggregate_id FROM tandem_dead_letters WHERE projection = ?",
                (projection,),
            ).fetchall()
        )
        return {str(row[0]) for row in rows}

    async def remove(self, projection: str, positions: Sequence[int]) -> None:
        def delete(conn: Any) -> None:
            with transaction(conn):
                conn.executemany(
                    "DELETE FROM tandem_dead_letters WHERE projection = ? AND position = ?",
                    [(projection, p) for p in positions],
                )

        await self.db.run(delete)

    async def forget_after(self, projection: str, checkpoint: int) -> None:
        def delete(conn: Any) -> None:
            with transaction(conn):
                conn.execute(
                    "DELETE FROM tandem_dead_letters WHERE projection = ? AND position > ?",
                    (projection, checkpoint),
                )

        await self.db.run(delete)

    async def counts(self) -> dict[str, int]:
        rows = await self.db.run(
            lambda c: c.execute(
                "SELECT projection, count(*) FROM tandem_dead_letters GROUP BY projection"
            ).fetchall()
        )
        return {str(row[0]): int(row[1]) for row in rows}

    def close(self) -> None:
        self.db.close()
